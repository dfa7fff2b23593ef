"""Live pushes: render a fragment and send it to a Channels group after commit.

Pages subscribe with htmx's websocket extension; every pushed element carries
the DOM id of the element it replaces (out-of-band swap), and is rendered from
the same template partial the page itself renders.
"""

import logging
import time

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction
from django.template.loader import render_to_string

from .pushes import send_later

log = logging.getLogger(__name__)


def broadcast(group: str, template: str, context: dict) -> None:
    """Render ``template`` and push it to ``group`` once the transaction commits."""

    def send():
        html = render_to_string(template, context)
        send_later([(group, {"type": "push.html", "html": html})])  # a courtesy: the page re-reads on reload

    transaction.on_commit(send)


class LiveConsumer(AsyncWebsocketConsumer):
    """A websocket that relays pushed HTML for one group.

    Subclasses implement ``group_for(user)``: the group to join, or None when
    the user may not see the object (the socket is then refused), and may
    implement ``current_html()``: the fragments as they are now, sent right
    after connecting, so what changed between the page's render and the
    socket's (re)connect is not missed.

    Access is checked again at most every ``WS_RECHECK_SECONDS``, before a
    push is relayed or a request answered: a member removed from the
    workspace (or a deactivated user) is cut off with code 4403."""

    CLOSE_UNAUTHENTICATED = 4401
    CLOSE_FORBIDDEN = 4403

    async def connect(self):
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.close(code=self.CLOSE_UNAUTHENTICATED)
            return
        self.group = await database_sync_to_async(self.group_for)(user)
        if self.group is None:
            await self.close(code=self.CLOSE_FORBIDDEN)
            return
        self.access_checked_at = time.monotonic()
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.accept()
        html = await database_sync_to_async(self.current_html)()
        if html:
            await self.send(text_data=html)

    async def disconnect(self, code):
        if getattr(self, "group", None):
            await self.channel_layer.group_discard(self.group, self.channel_name)
            self.group = None

    async def still_allowed(self) -> bool:
        """False (and the socket closed) once the user may no longer see the object."""
        if getattr(self, "group", None) is None:
            return False
        if time.monotonic() - self.access_checked_at < settings.WS_RECHECK_SECONDS:
            return True
        group = await database_sync_to_async(self._recheck)()
        if group == self.group:
            self.access_checked_at = time.monotonic()
            return True
        await self.channel_layer.group_discard(self.group, self.channel_name)
        self.group = None
        await self.close(code=self.CLOSE_FORBIDDEN)
        return False

    def _recheck(self) -> str | None:
        user = self.scope["user"]
        if not get_user_model().objects.filter(pk=user.pk, is_active=True).exists():
            return None
        return self.group_for(user)

    async def receive(self, text_data=None, bytes_data=None):
        """Pages only listen; anything they send is ignored."""

    async def push_html(self, event):
        if await self.still_allowed():
            await self.send(text_data=event["html"])

    def group_for(self, user) -> str | None:
        raise NotImplementedError

    def current_html(self) -> str:
        return ""
