"""What every long-running management command (workers' supervisors, recovery, the host monitor, demos) needs to
run until stopped: a stop flag that SIGTERM/SIGINT set, and a database connection that survives a restart."""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator

from django.db import close_old_connections, connection


@contextlib.contextmanager
def stop_on_signals() -> Iterator[threading.Event]:
    """An event that SIGTERM and SIGINT set, so the loop finishes its current step and then exits cleanly.

    `Event.wait(seconds)` returns at once when it is set, so a loop that sleeps on it never waits a whole period.
    The previous handlers come back on exit. Off the main thread (a test calling the command from a thread) no
    handler can be installed: the event is only set by the caller.
    """
    stop = threading.Event()
    if threading.current_thread() is not threading.main_thread():
        yield stop
        return

    def _stop(signum, frame) -> None:
        stop.set()

    previous = {signum: signal.signal(signum, _stop) for signum in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield stop
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def refresh_db_connection() -> None:
    """Drop a broken or stale connection so a restarted database does not end the loop.

    Skipped inside an atomic block (a test's transaction), where closing would lose the transaction."""
    if not connection.in_atomic_block:
        close_old_connections()
