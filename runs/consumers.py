import json

from channels.db import database_sync_to_async
from django.template.loader import render_to_string

from portal.live import LiveConsumer

from . import selectors
from .live import log_frame, run_group
from .models import Metric, Run

BACKFILL_CHUNKS = 500


class RunConsumer(LiveConsumer):
    """Status, log chunks and metric points for one run's page.

    On every (re)connect the page sends {"after": N}, the highest seq it
    holds; the answer is every stored chunk after it (the last
    BACKFILL_CHUNKS of them when more are missing: the page shows a bounded
    tail, the full log downloads) and all metric points."""

    def group_for(self, user):
        run_id = self.scope["url_route"]["kwargs"]["run_id"]
        if selectors.run_can_be_seen_by(run_id=run_id, user=user):
            return run_group(run_id)
        return None

    async def receive(self, text_data=None, bytes_data=None):
        try:
            after = int(json.loads(text_data or "{}").get("after", -1))
        except (ValueError, TypeError, AttributeError):
            return
        status_html, frame = await database_sync_to_async(self._backfill)(after)
        await self.send(text_data=status_html)  # status pushes missed while away
        await self.send(text_data=frame)

    def _backfill(self, after: int) -> tuple[str, str]:
        run = Run.objects.select_related("target", "snapshot").get(
            pk=self.scope["url_route"]["kwargs"]["run_id"]
        )
        chunks = selectors.log_chunks_after(run=run, after=after, limit=BACKFILL_CHUNKS)
        truncated = chunks[0].seq if chunks and chunks[0].seq > after + 1 else None
        metrics = Metric.objects.filter(run=run).order_by("name", "step")[:20000]
        status_html = render_to_string("runs/run_detail.html#status", {"run": run})
        return status_html, log_frame(chunks, metrics, reset_metrics=True, truncated_before=truncated)
