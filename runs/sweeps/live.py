"""The sweep page's group and pushes: its live block, rendered from the page's own partial."""

from django.db import transaction
from django.template.loader import render_to_string

from portal.pushes import send_later


def sweep_group(sweep_id: int) -> str:
    return f"sweep-{sweep_id}"


def render_sweep_live(sweep) -> str:
    from .selectors import sweep_summary

    return render_to_string("runs/sweep_detail.html#live", {"sweep": sweep, "summary": sweep_summary(sweep)})


def push_sweep(sweep_id: int) -> None:
    """After commit, push the sweep's live block (read then, so it shows what was committed)."""
    from ..models import Sweep

    def send():
        sweep = Sweep.objects.select_related("run").filter(pk=sweep_id).first()
        if sweep is not None:
            send_later([(sweep_group(sweep_id), {"type": "push.html", "html": render_sweep_live(sweep)})])

    transaction.on_commit(send, robust=True)  # a push is a courtesy: the page re-reads on reload
