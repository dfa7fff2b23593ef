"""What the sweep page, the API and the SDK read of a sweep."""

from django.urls import reverse

from ..models import TERMINAL, Metric, RunStatus, Sweep
from .orchestrator import sweep_trials


def shown(value) -> str:
    """A parameter as the page shows it: floats to 4 significant digits."""
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def sweep_summary(sweep: Sweep) -> dict:
    """Progress, children (with params and value), the best child and the
    primary metric over steps per child."""
    children = list(sweep.run.children.select_related("target").order_by("pk"))
    trials = sweep_trials(sweep, children)
    rows = [
        {
            "run": child,
            "id": child.pk,
            "status": child.status,
            "status_label": child.get_status_display(),
            "params": child.trial_params or {},
            "value": trial.value,
            "running_at": child.running_at,
            "ended_at": child.ended_at,
            "reason": child.stop_reason,
        }
        for child, trial in trials
    ]
    scored = [r for r in rows if r["value"] is not None and r["status"] != RunStatus.FAILED]
    best = None
    if scored:
        pick = max if sweep.goal == "maximize" else min
        best = pick(scored, key=lambda r: r["value"])
        best["params_shown"] = {k: shown(v) for k, v in best["params"].items()}
    series: dict[str, list] = {}
    for run_id, step, value in (
        Metric.objects.filter(run__parent_id=sweep.pk, name=sweep.primary_metric)
        .order_by("run_id", "step")
        .values_list("run_id", "step", "value")
    ):
        series.setdefault(str(run_id), []).append([step, value])
    summary = {
        "children": rows,
        "param_names": list(sweep.space),
        "created": len(rows),
        "total": sweep.max_total_runs,
        "running": sum(1 for r in rows if r["status"] not in TERMINAL),
        "completed": sum(1 for r in rows if r["status"] == RunStatus.COMPLETED),
        "stopped_early": sum(1 for r in rows if r["status"] == RunStatus.EARLY_STOPPED),
        "failed": sum(1 for r in rows if r["status"] in (RunStatus.FAILED, RunStatus.CANCELED)),
        "best": best,
        "series": series,
    }
    summary["chart_data"] = sweep_chart_data(sweep, summary)
    return summary


def sweep_chart_data(sweep: Sweep, summary: dict) -> dict:
    """The JSON the page's charts and table read."""
    return {
        "metric": sweep.primary_metric,
        "goal": sweep.goal,
        "params": summary["param_names"],
        "series": summary["series"],
        "children": [
            {
                "id": r["id"],
                "status": r["status"],
                "status_label": r["status_label"],
                "params": r["params"],
                "value": r["value"],
                "reason": r["reason"],
                "url": reverse("run-detail", args=[r["id"]]),
            }
            for r in summary["children"]
        ],
        "best": summary["best"]["id"] if summary["best"] else None,
    }
