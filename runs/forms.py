from django import forms

from compute.models import ComputeTarget

from .selectors import runnable_targets


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
    snapshot = forms.IntegerField(required=False, widget=forms.HiddenInput)

    def __init__(self, *args, workspace, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["target"].queryset = runnable_targets(workspace=workspace)
