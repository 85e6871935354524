"""RQ entry point of sweeps: advance one (tell ended trials, ask new ones) in a worker."""

from __future__ import annotations

from django.db import close_old_connections


def advance_sweep_task(sweep_id: int) -> str:
    """Queued by a training worker's parent process when a trial ended there (a hard stop, an RQ failure): the
    parent forks work horses, so it hands the Optuna work to a worker instead of doing it itself."""
    from training.sweeps.services import advance_sweep

    close_old_connections()
    sweep = advance_sweep(sweep_id)
    return sweep.status if sweep else "missing"
