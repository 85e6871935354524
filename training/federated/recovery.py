"""Recovery for federated jobs: a horse that died mid-run leaves a Flower run going — stop it, then fail the row."""

from __future__ import annotations

import logging

from rmnconsole.core.recovery import JobKind, fail_row
from training.federated.models import FederatedTrainingJob

log = logging.getLogger(__name__)


def stop_run_and_fail(row: FederatedTrainingJob, reason: str) -> bool:
    if row.flower_run_id:
        from training.federated import services
        from training.federated.engine.flower_cli import FlowerError

        try:
            services.flower().stop_run(int(row.flower_run_id))
            reason = f"{reason}; Flower run {row.flower_run_id} stopped"
        except (FlowerError, Exception) as exc:
            log.warning("could not stop Flower run %s: %s", row.flower_run_id, exc)
            reason = f"{reason}; stopping Flower run {row.flower_run_id} failed: {exc}"
    return fail_row(row, reason)


def job_kind() -> JobKind:
    return JobKind.for_model(FederatedTrainingJob, label="federated training job", fail=stop_run_and_fail)
