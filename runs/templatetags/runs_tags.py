from django import template
from django.db.models import Count, Q

from .. import failures, queue_reasons
from ..models import UNFINISHED, RunStatus

register = template.Library()


@register.filter
def active_runs(target) -> dict:
    """The compute list's "Active runs": running (started, not ended) and queued, apart."""
    counts = target.runs.filter(status__in=UNFINISHED).aggregate(
        queued=Count("pk", filter=Q(status__in=(RunStatus.NOT_STARTED, RunStatus.QUEUED))),
        total=Count("pk"),
    )
    return {"queued": counts["queued"], "running": counts["total"] - counts["queued"]}


@register.filter
def failure(run) -> dict | None:
    return failures.failure_of(run)


@register.filter
def waiting_for(run) -> str:
    return queue_reasons.waiting_for(run)


@register.filter
def table_cell(value) -> str:
    """A run table's cell as text: numbers short, null empty."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return format(value, ".6g")
    return str(value)


@register.filter
def rank_range(world_size) -> range:
    """0 … world_size - 1: the ranks a multi-process run's log lines carry."""
    return range(int(world_size or 0))
