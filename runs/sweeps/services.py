"""Creating a sweep: the one validation the page, the API and the SDK share."""

from django.db import transaction
from django.utils import timezone

from ..models import Run, RunStatus, Sweep
from ..services import RunError, run_request
from .policies import make_policy
from .sampling import make_sampler
from .space import SpaceError, parse_space

SAMPLINGS = ("random", "grid", "bayesian")
POLICIES = ("none", "bandit", "median", "truncation")
GOALS = ("maximize", "minimize")
POLICY_OPTIONS = {
    "none": (),
    "bandit": ("slack_factor", "slack_amount", "evaluation_interval", "delay_evaluation"),
    "median": ("evaluation_interval", "delay_evaluation"),
    "truncation": ("truncation_percentage", "evaluation_interval", "delay_evaluation"),
}
MAX_TOTAL_RUNS = 10_000


class SweepError(RunError):
    """A sweep request that cannot work; ``field`` names the part at fault."""

    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field


def sweep_submit(
    *,
    workspace,
    user,
    experiment_name: str,
    target,
    snapshot,
    script: str,
    arguments,
    environment: dict,
    space: dict,
    sampling: str,
    primary_metric: str,
    goal: str,
    max_total_runs: int,
    max_concurrent_runs: int,
    max_duration_minutes: int | None = None,
    seed: int | None = None,
    policy: str = "none",
    policy_options: dict | None = None,
    warm_start_from: Sweep | None = None,
) -> Run:
    """Validate a sweep, store its parent run and take its first step once
    the transaction commits. Raises SweepError naming the field at fault."""
    try:
        parsed = parse_space(space)
    except SpaceError as exc:
        raise SweepError("space", str(exc)) from None
    if sampling not in SAMPLINGS:
        raise SweepError("sampling", f"Sampling is one of {', '.join(SAMPLINGS)}.")
    if sampling == "grid" and not parsed.is_discrete:
        raise SweepError("sampling", "Grid sampling takes choice() and randint() parameters only.")
    if sampling != "grid" and seed is not None and not isinstance(seed, int):
        raise SweepError("seed", "The seed is a whole number.")
    make_sampler(sampling, parsed, seed=seed, goal=goal)
    primary_metric = (primary_metric or "").strip()
    if not primary_metric:
        raise SweepError("primary_metric_name", "Name the primary metric the script logs, e.g. accuracy.")
    if goal not in GOALS:
        raise SweepError("primary_metric_goal", "The goal is maximize or minimize.")
    for field, value, low in (
        ("max_total_runs", max_total_runs, 1),
        ("max_concurrent_runs", max_concurrent_runs, 1),
    ):
        if not isinstance(value, int) or value < low or value > MAX_TOTAL_RUNS:
            raise SweepError(field, f"{field.replace('_', ' ').capitalize()} is a whole number from 1.")
    if max_duration_minutes is not None and (
        not isinstance(max_duration_minutes, int) or max_duration_minutes < 1
    ):
        raise SweepError("max_duration_minutes", "Max duration is a whole number of minutes from 1.")
    policy = policy or "none"
    if policy not in POLICIES:
        raise SweepError("policy", f"The policy is one of {', '.join(POLICIES)}.")
    options = {k: v for k, v in (policy_options or {}).items() if v not in (None, "")}
    unknown = sorted(set(options) - set(POLICY_OPTIONS[policy]))
    if unknown:
        raise SweepError("policy_options", f"The {policy} policy does not take {', '.join(unknown)}.")
    try:
        make_policy(policy, **options)
    except (TypeError, ValueError) as exc:
        raise SweepError("policy_options", str(exc)) from None
    if warm_start_from is not None and warm_start_from.run.workspace_id != workspace.pk:
        raise SweepError("warm_start_from", "The earlier sweep must be in this workspace.")
    script, arguments, environment = run_request(
        workspace=workspace,
        target=target,
        snapshot=snapshot,
        script=script,
        arguments=arguments,
        environment=environment,
    )
    from ..services import experiment_get_or_create
    from .orchestrator import queue_advance

    with transaction.atomic():
        now = timezone.now()
        experiment = experiment_get_or_create(workspace=workspace, user=user, name=experiment_name)
        # The parent is a record, not a process: no worker prepares it (it has no handle).
        parent = Run.objects.create(
            workspace=workspace,
            experiment=experiment,
            snapshot=snapshot,
            script=script,
            arguments=arguments,
            target=target,
            environment=environment,
            status=RunStatus.RUNNING,
            queued_at=now,
            running_at=now,
            substep="Sweeping",
            created_by=user,
        )
        Sweep.objects.create(
            run=parent,
            space=parsed.to_json(),
            sampling=sampling,
            seed=seed,
            policy=policy,
            policy_options=options,
            primary_metric=primary_metric,
            goal=goal,
            max_total_runs=max_total_runs,
            max_concurrent_runs=max_concurrent_runs,
            max_duration_minutes=max_duration_minutes,
            warm_start_from=warm_start_from,
        )
        queue_advance(parent.pk)
    return parent
