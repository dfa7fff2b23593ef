from django import forms

from compute.models import ComputeTarget

from .models import Sweep
from .selectors import runnable_targets
from .services import MAX_PROCESSES_PER_NODE, MAX_RUN_NODES


class RunSubmitForm(forms.Form):
    target = forms.ModelChoiceField(queryset=ComputeTarget.objects.none(), empty_label=None)
    experiment = forms.CharField(
        max_length=64,
        initial="default",
        help_text="An existing experiment, or a new name to create one.",
        widget=forms.TextInput(attrs={"list": "experiment-names", "autocomplete": "off"}),
    )
    script = forms.CharField(
        max_length=500,
        initial="train.py",
        help_text="Path of the script inside the folder, e.g. train.py or src/train.py.",
    )
    arguments = forms.CharField(
        required=False,
        help_text="Arguments as on a shell command line: --epochs 10 --lr 0.01",
    )
    environment = forms.ChoiceField(
        choices=[
            ("user", "User-managed: the target's Python"),
            ("pip", "System-managed: pip requirements"),
            ("conda", "System-managed: conda environment file (targets with conda)"),
        ],
        initial="user",
        widget=forms.RadioSelect,
    )
    interpreter = forms.CharField(
        required=False,
        initial="python3",
        help_text="Interpreter on the target (name on PATH or absolute path).",
    )
    requirements = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 3, "placeholder": "scikit-learn==1.5.2\nnumpy"}),
        help_text="pip requirements, or a conda environment.yml; built once per target and spec, then reused.",
    )
    use_docker = forms.BooleanField(
        label="Use Docker",
        required=False,
        help_text="Run in a container of the base image on the target's Docker engine; with pip "
        "requirements, an image is built from it once per spec and reused.",
    )
    base_image = forms.CharField(
        label="Base image",
        required=False,
        max_length=255,
        widget=forms.TextInput(attrs={"placeholder": "python:3.11-slim"}),
        help_text="An image on the engine (never pulled).",
    )
    # Cluster targets only (the page shows them for those): see services.run_placement.
    node_count = forms.IntegerField(
        label="Nodes",
        required=False,
        min_value=1,
        max_value=MAX_RUN_NODES,
        initial=1,
        help_text="The script runs on each (srun).",
    )
    processes_per_node = forms.IntegerField(
        label="Processes per node",
        required=False,
        min_value=1,
        max_value=MAX_PROCESSES_PER_NODE,
        initial=1,
        help_text="Each gets its RANK, LOCAL_RANK and WORLD_SIZE.",
    )
    partition = forms.ChoiceField(required=False, help_text="Where Slurm queues the run.")
    snapshot = forms.IntegerField(required=False, widget=forms.HiddenInput)

    def __init__(self, *args, workspace, **kwargs):
        super().__init__(*args, **kwargs)
        targets = runnable_targets(workspace=workspace)
        self.fields["target"].queryset = targets
        # Each cluster's partitions, grouped by target; the page keeps the chosen target's.
        self.placement = {}
        groups = []
        for target in targets:
            backend = target.backend
            if backend.multi_node:
                partitions = backend.partitions()
                self.placement[target.pk] = partitions
                if partitions:
                    groups.append((target.name, [(p, p) for p in partitions]))
        self.fields["partition"].choices = [("", "The target's default"), *groups]

    def clean(self):
        data = super().clean()
        data["node_count"] = data.get("node_count") or 1
        data["processes_per_node"] = data.get("processes_per_node") or 1
        target = data.get("target")
        if target is None:
            return data
        if target.pk not in self.placement:
            data["node_count"], data["processes_per_node"], data["partition"] = 1, 1, ""  # not shown
        elif data.get("partition") and data["partition"] not in self.placement[target.pk]:
            self.add_error("partition", f"{target.name} has no partition “{data['partition']}”.")
        return data


SWEEP_PARAM_ROWS = 4
DISTRIBUTIONS = [
    ("choice", "choice(values…)"),
    ("randint", "randint(upper)"),
    ("uniform", "uniform(low, high)"),
    ("quniform", "quniform(low, high, q)"),
    ("loguniform", "loguniform(low, high)"),
    ("qloguniform", "qloguniform(low, high, q)"),
    ("normal", "normal(mu, sigma)"),
    ("qnormal", "qnormal(mu, sigma, q)"),
    ("lognormal", "lognormal(mu, sigma)"),
    ("qlognormal", "qlognormal(mu, sigma, q)"),
]


def _scalar(text: str):
    text = text.strip()
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


class SweepForm(forms.Form):
    """The "Sweep parameters" part of the submit page: parameter rows
    (name, distribution, its arguments) and the sweep's settings. Only the
    shape is read here; runs.sweeps.services.sweep_submit judges the rest."""

    sweep = forms.BooleanField(label="Sweep parameters", required=False)
    sampling = forms.ChoiceField(
        choices=[("random", "Random"), ("grid", "Grid (choices only)"), ("bayesian", "Bayesian (TPE)")]
    )
    seed = forms.IntegerField(required=False, help_text="The same seed gives the same trials.")
    primary_metric = forms.CharField(label="Primary metric", max_length=200, initial="accuracy")
    goal = forms.ChoiceField(choices=[("maximize", "Maximize"), ("minimize", "Minimize")])
    max_total_runs = forms.IntegerField(label="Max total runs", min_value=1, initial=12)
    max_concurrent_runs = forms.IntegerField(label="Max concurrent runs", min_value=1, initial=3)
    max_duration_minutes = forms.IntegerField(label="Max duration (minutes)", min_value=1, required=False)
    policy = forms.ChoiceField(
        label="Early termination",
        choices=[
            ("none", "None"),
            ("bandit", "Bandit"),
            ("median", "Median stopping"),
            ("truncation", "Truncation selection"),
        ],
    )
    slack_factor = forms.FloatField(required=False, help_text="Bandit: stop below best / (1 + factor).")
    slack_amount = forms.FloatField(required=False, help_text="Bandit: or below best − amount.")
    truncation_percentage = forms.IntegerField(required=False, help_text="Truncation: the worst N % stop.")
    evaluation_interval = forms.IntegerField(required=False, min_value=1, initial=1)
    delay_evaluation = forms.IntegerField(required=False, min_value=0, initial=0)
    warm_start_from = forms.ModelChoiceField(
        queryset=Sweep.objects.none(),
        required=False,
        label="Resume from",
        empty_label="— a fresh start —",
        help_text="An earlier sweep over the same parameters: its finished trials are not run again, "
        "and Bayesian sampling learns from them.",
    )

    def __init__(self, *args, workspace, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["warm_start_from"].queryset = (
            Sweep.objects.filter(run__workspace=workspace).select_related("run__experiment").order_by("-pk")
        )
        self.fields["warm_start_from"].label_from_instance = lambda sweep: (
            f"Sweep {sweep.pk} · {sweep.run.experiment.name} · {sweep.sampling}, "
            f"{sweep.primary_metric} ({sweep.goal})"
        )
        for i in range(SWEEP_PARAM_ROWS):
            self.fields[f"param_{i}_name"] = forms.CharField(required=False, label="Name")
            self.fields[f"param_{i}_type"] = forms.ChoiceField(
                choices=DISTRIBUTIONS, required=False, label="Distribution"
            )
            self.fields[f"param_{i}_args"] = forms.CharField(required=False, label="Arguments")

    def param_rows(self):
        return [
            (self[f"param_{i}_name"], self[f"param_{i}_type"], self[f"param_{i}_args"])
            for i in range(SWEEP_PARAM_ROWS)
        ]

    def clean(self):
        from .sweeps.space import DISTRIBUTION_ARGUMENTS as ARGS

        data = super().clean()
        space = {}
        for i in range(SWEEP_PARAM_ROWS):
            name = (data.get(f"param_{i}_name") or "").strip()
            args = [a for a in (data.get(f"param_{i}_args") or "").split(",") if a.strip()]
            if not name and not args:
                continue
            kind = data.get(f"param_{i}_type") or "choice"
            if not name:
                self.add_error(f"param_{i}_name", "Name the parameter, e.g. --alpha.")
                continue
            if not name.startswith("-"):
                name = f"--{name}"
            if kind == "choice":
                space[name] = {"type": "choice", "values": [_scalar(a) for a in args]}
                continue
            wanted = ARGS[kind]
            if len(args) != len(wanted):
                self.add_error(f"param_{i}_args", f"{kind} takes {', '.join(wanted)}.")
                continue
            try:
                space[name] = {"type": kind, **{k: float(a) for k, a in zip(wanted, args, strict=True)}}
            except ValueError:
                self.add_error(f"param_{i}_args", f"{kind}'s arguments are numbers.")
        data["space"] = space
        from .sweeps.services import POLICY_OPTIONS

        data["policy_options"] = {
            key: data[key] for key in POLICY_OPTIONS.get(data.get("policy"), ()) if data.get(key) is not None
        }
        return data
