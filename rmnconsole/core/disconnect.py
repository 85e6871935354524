"""Lets synchronous code notice that its HTTP client went away (ASGI only).

Django's ASGI handler listens for `http.disconnect` while a view runs, but it can only cancel an async task: a
sync view (or one behind sync middleware) runs on in its thread, blocked on whatever it waits for. This ASGI
wrapper sets a per-request flag when the disconnect arrives; `client_gone(request)` reads it from that thread.
Under WSGI there is no such message, and `client_gone` is always False.
"""

from __future__ import annotations

import threading

SCOPE_KEY = "rmn.client_gone"


class DisconnectWatch:
    """ASGI middleware around Django's HTTP application."""

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope.get("type") != "http":
            return await self.app(scope, receive, send)
        gone = threading.Event()

        async def watched_receive():
            message = await receive()
            if message.get("type") == "http.disconnect":
                gone.set()
            return message

        return await self.app({**scope, SCOPE_KEY: gone}, watched_receive, send)


def is_asgi(request) -> bool:
    return isinstance(getattr(request, "scope", None), dict)


def client_gone(request) -> bool:
    event = getattr(request, "scope", {}).get(SCOPE_KEY) if is_asgi(request) else None
    return bool(event is not None and event.is_set())
