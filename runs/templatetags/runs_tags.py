from django import template

from ..models import UNFINISHED

register = template.Library()


@register.filter
def unfinished_runs(target) -> int:
    """How many of the target's runs are queued or running (the compute list's "Active runs")."""
    return target.runs.filter(status__in=UNFINISHED).count()
