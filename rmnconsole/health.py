"""Live state of the queue system: queue depths and the workers listening on each queue."""

from __future__ import annotations

from dataclasses import dataclass, field

from rmnconsole.core.queues import ALL, TRAINING, get_queue


@dataclass
class QueueState:
    name: str
    depth: int = 0
    workers: list[str] = field(default_factory=list)
    error: str = ""


def queue_states() -> list[QueueState]:
    """The fixed queues, then every capability queue (`training.g2.m24` …) that has jobs waiting."""
    from rq import Queue, Worker

    states = []
    try:
        connection = get_queue(TRAINING).connection
        routed = sorted(
            q.name for q in Queue.all(connection=connection) if q.name.startswith(f"{TRAINING}.") and q.count
        )
    except Exception:  # reported per queue below
        routed = []
    for name in [*ALL, *routed]:
        state = QueueState(name=name)
        try:
            queue = get_queue(name) if name in ALL else Queue(name, connection=connection)
            state.depth = queue.count
            state.workers = sorted(w.name for w in Worker.all(queue=queue))
        except Exception as exc:  # Redis down must not take the console down; the page says so.
            state.error = f"Redis unavailable: {exc.__class__.__name__}"
        states.append(state)
    return states
