"""The WebSocket door of live updates: `/ws/live/<topic>/<pk>/` relays one object's events to one browser.

Authorisation is the page's: a signed-in, active user (session cookie, AuthMiddlewareStack) and the object's own
check registered with `rmnconsole.core.live.register_topic`; anything else is closed before the handshake ends.
Cross-origin sockets never reach this class (AllowedHostsOriginValidator in rmnconsole.asgi).

Fan-out is bounded per connection: the browser acknowledges what it has handled (`{"ack": seq}`), and at most
WINDOW unacknowledged events are sent. A slow browser therefore holds at most WINDOW events in the server's send
buffers; what arrives beyond that is dropped and, once the browser catches up, replaced by one `resync` marker that
makes the page re-read the database (no lost points, no duplicates: the page asks for points after its last step).
"""

from __future__ import annotations

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer

from rmnconsole.core import live

WINDOW = 64  # unacknowledged events one connection may have in flight

CLOSE_UNAUTHENTICATED = 4401
CLOSE_FORBIDDEN = 4403


class LiveConsumer(AsyncJsonWebsocketConsumer):
    group: str | None = None

    async def connect(self) -> None:
        user = self.scope.get("user")
        if user is None or not user.is_authenticated or not user.is_active:
            await self.close(code=CLOSE_UNAUTHENTICATED)
            return
        kwargs = self.scope["url_route"]["kwargs"]
        label, pk = kwargs["topic"], int(kwargs["pk"])
        can_view = live.topic_check(label)
        if can_view is None or not await database_sync_to_async(can_view)(user, pk):
            await self.close(code=CLOSE_FORBIDDEN)
            return
        self.group = live.group_name(label, pk)
        self.sent = self.acked = self.dropped = 0
        self.behind = False
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.accept()
        await self._send({"kind": "hello", "window": WINDOW})

    async def disconnect(self, code) -> None:
        if self.group:
            await self.channel_layer.group_discard(self.group, self.channel_name)

    async def receive_json(self, content, **kwargs) -> None:
        ack = content.get("ack") if isinstance(content, dict) else None
        if isinstance(ack, int) and not isinstance(ack, bool) and self.acked <= ack <= self.sent:
            self.acked = ack
        if self.behind and self.sent - self.acked < WINDOW // 2:
            self.behind = False
            await self._send({"kind": "resync", "dropped": self.dropped})
            self.dropped = 0

    async def live_event(self, message: dict) -> None:
        if self.behind or self.sent - self.acked >= WINDOW:
            self.behind = True  # the browser is behind: drop, and tell it to re-read once it has caught up
            self.dropped += 1
            return
        body = message["json"]  # a JSON object serialized once by the publisher for every socket of the group
        self.sent += 1
        await self.send(
            text_data=f'{{"seq":{self.sent},{body[1:]}' if body != "{}" else f'{{"seq":{self.sent}}}'
        )

    async def _send(self, event: dict) -> None:
        self.sent += 1
        await self.send_json({**event, "seq": self.sent})
