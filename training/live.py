"""Who may watch a training job live: the job page's own rule (any signed-in user may open an existing job)."""

from __future__ import annotations

from rmnconsole.core.errors import NotFound
from training import services


def can_view_job(user, job_id: int) -> bool:
    """The check `views.job_detail` makes (through `services.get_job`), for the WebSocket door."""
    try:
        services.get_job(job_id)
    except NotFound:
        return False
    return True
