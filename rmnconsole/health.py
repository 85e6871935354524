"""Live state of the queue system: queue depths and the workers listening on each queue."""

from __future__ import annotations

from dataclasses import dataclass, field

from rmnconsole.queues import ALL, get_queue


@dataclass
class QueueState:
    name: str
    depth: int = 0
    workers: list[str] = field(default_factory=list)
    error: str = ""


def queue_states() -> list[QueueState]:
    from rq import Worker

    states = []
    for name in ALL:
        state = QueueState(name=name)
        try:
            queue = get_queue(name)
            state.depth = queue.count
            state.workers = sorted(w.name for w in Worker.all(queue=queue))
        except Exception as exc:  # Redis down must not take the console down; the page says so.
            state.error = f"Redis unavailable: {exc.__class__.__name__}"
        states.append(state)
    return states
