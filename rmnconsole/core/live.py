"""Live updates: the single publishing door workers use where they already write progress.

`publish(group, event)` is synchronous, cheap (it only hands the event to one background thread with its own
event loop and Redis connections), never raises into the caller and is bounded: at most MAX_PENDING events wait
per process; more are dropped (the browser catches up from the database on the next status or resync, so a lost
event costs freshness, never correctness). Events are published after the surrounding transaction commits, so a
page that re-reads the database on an event sees what the event announced.

Group names come from the row: `live.<app_label>.<model_name>.<pk>` (`group_for(row)`), so every kind on the
queued-job base (training, import, validation, eval runs, sweeps, federated jobs …) gets status events without
code of its own; a kind registers which users may watch it with `register_topic` (the page's own check).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import threading
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.db import transaction

log = logging.getLogger(__name__)

MAX_PENDING = 512  # events one process may have in flight to Redis
SEND_TIMEOUT = 2.0  # seconds one group_send may take before it is abandoned (Redis down or slow)
MAX_TEXT = 16_000  # characters of log text in one event; longer text is cut and marked "truncated"
MAX_POINTS = 500  # metric points in one event; more are replaced by a resync marker

# topic label ("training.trainingjob") → can_view(user, pk) -> bool, the same check the object's page makes.
_TOPICS: dict[str, Callable[[Any, int], bool]] = {}


def topic_label(model) -> str:
    """ "app_label.model_name" of a model (or row); a string is already a label (a topic that is no row, e.g.
    "monitoring.dashboard", watched as pk 0)."""
    if isinstance(model, str):
        return model
    return f"{model._meta.app_label}.{model._meta.model_name}"


def group_name(label: str, pk: int | str) -> str:
    return f"live.{label}.{int(pk)}"


def group_for(row_or_model, pk: int | str | None = None) -> str:
    return group_name(topic_label(row_or_model), row_or_model.pk if pk is None else pk)


def register_topic(model, can_view: Callable[[Any, int], bool] | None = None) -> None:
    """Let signed-in users watch rows of `model` live; `can_view(user, pk)` is the object page's own permission
    (default: the row exists — the rule of every page whose only check is the sign-in)."""
    if can_view is None and isinstance(model, str):
        raise ValueError(f"topic {model!r} is no model: say who may watch it")
    _TOPICS[topic_label(model)] = can_view or _row_exists(model)


def _row_exists(model) -> Callable[[Any, int], bool]:
    def can_view(user, pk: int) -> bool:
        return model._default_manager.filter(pk=pk).exists()

    return can_view


def topic_check(label: str) -> Callable[[Any, int], bool] | None:
    return _TOPICS.get(label)


def log_fragment(text: str, end: int) -> dict[str, Any]:
    """Text appended to a log that is now `end` characters long. `start`/`end` let the page append each fragment
    exactly once (skip what it has, re-read the log on a gap); a fragment too long is cut to its tail (a gap)."""
    text = text[-MAX_TEXT:]
    return {"text": text, "start": end - len(text), "end": end}


class _Publisher:
    """One daemon thread running an event loop with a private channel layer (a fork gets a new one)."""

    def __init__(self) -> None:
        from channels.layers import channel_layers

        self.pid = os.getpid()
        self.layer = channel_layers.make_backend("default")
        self.loop = asyncio.new_event_loop()
        self.pending = 0
        self.dropped = 0
        self.failed = 0
        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True, name="live-publisher")
        self._thread.start()

    def submit(self, group: str, message: dict) -> bool:
        with self._lock:
            if self.pending >= MAX_PENDING:
                self.dropped += 1
                return False
            self.pending += 1
        asyncio.run_coroutine_threadsafe(self._send(group, message), self.loop)
        return True

    async def _send(self, group: str, message: dict) -> None:
        try:
            await asyncio.wait_for(self.layer.group_send(group, message), SEND_TIMEOUT)
        except Exception as exc:  # Redis down or slow: the event is lost, the database still has the truth
            self.failed += 1
            log.debug("live event for %s not sent: %s", group, exc)
        finally:
            with self._lock:
                self.pending -= 1
                if not self.pending:
                    self._idle.notify_all()

    def flush(self, timeout: float) -> bool:
        with self._lock:
            return self._idle.wait_for(lambda: self.pending == 0, timeout)


_publisher: _Publisher | None = None
_publisher_lock = threading.Lock()


def _after_fork_in_child() -> None:
    # An RQ work horse is a fork: the parent's sending thread does not exist in it, and a lock the parent held at the
    # fork would never be released. Start clean; the first publish builds the child's own publisher.
    global _publisher, _publisher_lock
    _publisher, _publisher_lock = None, threading.Lock()


os.register_at_fork(after_in_child=_after_fork_in_child)


def _get_publisher() -> _Publisher:
    global _publisher
    current = _publisher
    if current is not None and current.pid == os.getpid():
        return current
    with _publisher_lock:
        if _publisher is None or _publisher.pid != os.getpid():  # first use, or a forked child (no thread)
            _publisher = _Publisher()
        return _publisher


def publish(group: str, event: dict[str, Any]) -> bool:
    """Send `event` (a JSON-able dict with a "kind") to the watchers of `group` now; False when it was not queued."""
    if not getattr(settings, "RMN_LIVE_UPDATES", True):
        return False
    try:
        # Serialized once here, not once per watching socket: the consumers splice their sequence number in.
        body = json.dumps(event, separators=(",", ":"), default=str)
        return _get_publisher().submit(group, {"type": "live.event", "json": body})
    except Exception:  # never into a worker: live updates are a convenience on top of the database
        log.debug("live event for %s not queued", group, exc_info=True)
        return False


def publish_on_commit(group: str, event: dict[str, Any], *, flush: bool = False) -> None:
    """Publish once the current transaction commits (now, outside one). `flush` waits (bounded) until it is sent:
    for a job's final status, written just before a work horse exits."""

    def _send() -> None:
        if publish(group, event) and flush:
            flush_pending()

    try:
        transaction.on_commit(_send)
    except Exception:
        log.debug("live event for %s not scheduled", group, exc_info=True)


def flush_pending(timeout: float = SEND_TIMEOUT) -> bool:
    """Wait until this process's queued events are sent (or `timeout` passes)."""
    current = _publisher
    if current is None or current.pid != os.getpid():
        return True
    return current.flush(timeout)


def stats() -> dict[str, int]:
    current = _publisher
    if current is None:
        return {"pending": 0, "dropped": 0, "failed": 0}
    return {"pending": current.pending, "dropped": current.dropped, "failed": current.failed}
