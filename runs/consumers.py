import asyncio
import json
import time

from channels.db import database_sync_to_async
from django.conf import settings
from django.template.loader import render_to_string

from portal.live import LiveConsumer

from . import selectors, system_samples
from .live import log_frame, run_group, system_frame
from .models import Metric, Run

BACKFILL_CHUNKS = 500
HELD_PUSHES_MAX = 1000


class TokenBucket:
    """``burst`` requests at once, then ``per_second``."""

    def __init__(self, burst: int, per_second: float):
        self.capacity, self.rate = burst, per_second
        self.tokens, self.updated = float(burst), time.monotonic()

    def _refill(self):
        now = time.monotonic()
        self.tokens = min(self.capacity, self.tokens + (now - self.updated) * self.rate)
        self.updated = now

    def take(self) -> bool:
        self._refill()
        if self.tokens >= 1:
            self.tokens -= 1
            return True
        return False

    def wait(self) -> float:
        """Seconds until a token is free."""
        self._refill()
        return max(0.0, (1 - self.tokens) / self.rate)


class RunConsumer(LiveConsumer):
    """Status, log chunks and metric points for one run's page.

    On every (re)connect the page sends {"after": N}, the highest seq it
    holds; the answer is every stored chunk after it (the last
    BACKFILL_CHUNKS of them when more are missing: the page shows a bounded
    tail, the full log downloads) and all metric points.

    Order on the wire is seq order. The socket joins the run's group before
    it reads the database, so no chunk stored after the read is missed; log
    pushes that arrive before the first backfill, or while one is being
    read, are held and then relayed without the chunks the backfill already
    sent. A page that still sees a gap (a push lost by the channel layer)
    asks again; backfill requests are rate-limited per socket, and one over
    the limit is answered once a token is free, merged with any that follow."""

    async def connect(self):
        self.sent_up_to: int | None = None  # highest seq sent; None until the first backfill
        self.backfilling = False
        self.held: list[dict] = []
        self.bucket = TokenBucket(settings.WS_BACKFILL_BURST, settings.WS_BACKFILL_PER_SECOND)
        self.deferred_after: int | None = None
        self.deferred_task: asyncio.Task | None = None
        await super().connect()

    async def disconnect(self, code):
        if getattr(self, "deferred_task", None):
            self.deferred_task.cancel()
        await super().disconnect(code)

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
        if not await self.still_allowed():
            return
        if self.deferred_task is None and self.bucket.take():
            await self._answer(after)
            return
        self.deferred_after = after if self.deferred_after is None else min(after, self.deferred_after)
        if self.deferred_task is None:
            self.deferred_task = asyncio.create_task(self._answer_when_allowed())

    async def _answer_when_allowed(self):
        while not self.bucket.take():
            await asyncio.sleep(self.bucket.wait())
        after, self.deferred_after = self.deferred_after, None
        try:
            if await self.still_allowed():
                await self._answer(after)
        finally:
            self.deferred_task = None

    async def _answer(self, after: int):
        self.backfilling = True
        try:
            status_html, chunks, metrics, samples = await database_sync_to_async(self._backfill)(after)
        finally:
            self.backfilling = False
        truncated = chunks[0].seq if chunks and chunks[0].seq > after + 1 else None
        await self.send(text_data=status_html)  # status pushes missed while away
        await self.send(text_data=log_frame(chunks, metrics, reset_metrics=True, truncated_before=truncated))
        if samples:
            await self.send(text_data=system_frame(samples, reset=True))
        known = [
            seq for seq in (self.sent_up_to, after, chunks[-1].seq if chunks else None) if seq is not None
        ]
        self.sent_up_to = max(known)
        held, self.held = self.held, []
        for event in held:
            await self._relay(event)

    def _backfill(self, after: int):
        run = Run.objects.select_related("target", "snapshot").get(
            pk=self.scope["url_route"]["kwargs"]["run_id"]
        )
        chunks = selectors.log_chunks_after(run=run, after=after, limit=BACKFILL_CHUNKS)
        metrics = list(Metric.objects.filter(run=run).order_by("name", "step")[: selectors.METRIC_POINTS_MAX])
        status_html = (
            render_to_string("runs/run_detail.html#status", {"run": run})
            + render_to_string("runs/run_detail.html#data", {"run": run, "data": selectors.RunData(run)})
            + render_to_string(
                "runs/run_detail.html#monitoring-summary",
                {"run": run, "monitoring": system_samples.summary(run)},
            )
        )
        return status_html, chunks, metrics, system_samples.run_payloads(run)

    async def push_log(self, event):
        if not await self.still_allowed():
            return
        if self.sent_up_to is None or self.backfilling:
            # Stored before the backfill's read (or during it): held, so the
            # page never gets a newer chunk ahead of its backfill.
            self.held.append(event)
            del self.held[:-HELD_PUSHES_MAX]  # the page asks again if this leaves a gap
            return
        await self._relay(event)

    async def push_system(self, event):
        """New system samples: relayed as they come (the backfill sends them all again)."""
        if await self.still_allowed():
            await self.send(text_data=system_frame(event["samples"], reset=event["reset"]))

    async def _relay(self, event):
        chunks = [c for c in event["chunks"] if c["seq"] > self.sent_up_to]
        if not chunks and not event["metrics"]:
            return
        if chunks:
            self.sent_up_to = chunks[-1]["seq"]
        await self.send(text_data=log_frame(chunks, event["metrics"]))


class SweepConsumer(LiveConsumer):
    """The sweep page's live block: progress, best run, charts' data, children."""

    def group_for(self, user):
        from .models import Sweep
        from .sweeps.live import sweep_group

        sweep_id = self.scope["url_route"]["kwargs"]["sweep_id"]
        if Sweep.objects.filter(pk=sweep_id, run__workspace__memberships__user=user).exists():
            return sweep_group(sweep_id)
        return None

    def current_html(self):
        from .models import Sweep
        from .sweeps.live import render_sweep_live

        sweep = (
            Sweep.objects.select_related("run")
            .filter(pk=self.scope["url_route"]["kwargs"]["sweep_id"])
            .first()
        )
        return render_sweep_live(sweep) if sweep else ""
