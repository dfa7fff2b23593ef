from django import template

from ..models import UNFINISHED

register = template.Library()


@register.filter
def unfinished_runs(target) -> int:
    """How many of the target's runs are queued or running (the compute list's "Active runs")."""
    return target.runs.filter(status__in=UNFINISHED).count()


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
