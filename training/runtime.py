"""Where a training job's files and flags live: checkpoint folder, RQ job id, cancel key, the Redis connection."""

from __future__ import annotations

from pathlib import Path

from django.conf import settings

from rmnconsole.core import queues
from rmnconsole.core.paths import CHECKPOINTS, data_dir, data_root
from training.engine.checkpoints import latest_checkpoint
from training.models import TrainingJob

CANCEL_KEY = "rmn:training:cancel:{}"
DDP_FOLDER = ".ddp"  # inside the job's checkpoint folder: the files a distributed run's ranks share


def checkpoint_dir(job_id: int) -> Path:
    return data_dir(CHECKPOINTS) / f"job-{job_id}"


def cancel_grace_seconds() -> float:
    return settings.RMN_TRAINING_CANCEL_GRACE_SECONDS


def training_redis():
    import django_rq

    return django_rq.get_connection(queues.TRAINING)


def existing_checkpoint(job: TrainingJob) -> Path | None:
    found = latest_checkpoint(checkpoint_dir(job.pk))
    if found is None and job.last_checkpoint:
        candidate = data_root() / job.last_checkpoint
        found = candidate if (candidate / "trainer_state.json").is_file() else None
    return found
