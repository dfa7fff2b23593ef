from django import template
from django.utils import timezone
from django.utils.timesince import timesince

from .. import hostkeys

register = template.Library()


@register.filter
def fingerprint(key_line: str) -> str:
    try:
        return hostkeys.fingerprint(key_line)
    except hostkeys.BadHostKey:
        return "(unreadable key)"


@register.filter
def key_type_short(key_line: str) -> str:
    """ssh-ed25519 → ed25519, ecdsa-sha2-nistp256 → ecdsa, ssh-rsa → rsa."""
    kind = key_line.split()[0] if key_line else ""
    return kind.removeprefix("ssh-").split("-")[0]


@register.filter
def ago(moment) -> str:
    if not moment:
        return ""
    if (timezone.now() - moment).total_seconds() < 60:
        return "just now"
    return f"{timesince(moment)} ago"


@register.filter
def gb(megabytes) -> str:
    """24105 → "23.5 GB"."""
    if megabytes in (None, ""):
        return "—"
    return f"{int(megabytes) / 1024:.1f} GB"


@register.filter
def check_wait(target) -> str:
    from ..selectors import check_wait as wait

    return wait(target)


@register.filter
def cluster_view(target) -> dict:
    from ..selectors import cluster_view as view

    return view(target)


@register.filter
def default_resize_form(form, target):
    """The resize form as posted (with its errors), or one filled from the cluster's config."""
    if form:
        return form
    from ..backends.slurm_forms import ClusterResizeForm

    return ClusterResizeForm(initial={k: target.config.get(k) for k in ClusterResizeForm.base_fields})


@register.filter
def price(value) -> str:
    """Decimal("0.2500") → "0.25", Decimal("10.0000") → "10"."""
    return "" if value is None else f"{value.normalize():f}"
