"""Workers under Redis loss and a killed work horse, with real worker processes: a worker Redis forgot registers
again (no false "no worker" alert), and a SIGKILLed horse's job says what RQ saw."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest
import redis
from rq import Queue, Worker

from rmnconsole.core.recovery import LOST, record_killed_horse
from tests.conftest import REPO
from tests.reliability.training_helpers import wait_for


def _listed(connection, queue: str, name: str) -> bool:
    return name in {w.name for w in Worker.all(queue=Queue(queue, connection=connection))}


@pytest.mark.integration
def test_a_worker_redis_forgot_registers_again(rq_worker, settings, monkeypatch):
    from monitoring.alerts import queue_firings
    from rmnconsole.health import queue_states

    monkeypatch.setenv("RMN_HEARTBEAT_STALE_SECONDS", "5")  # the idle worker beats about every second
    client = redis.Redis.from_url(settings.REDIS_URL)
    proc = rq_worker.start_command([
        sys.executable, str(REPO / "manage.py"), "rqworker", "inference", "default",
        "--worker-class", "rmnconsole.workers.RecoveringSimpleWorker", "--name", "inference-x",
    ])  # fmt: skip
    wait_for(lambda: _listed(client, "inference", "inference-x"), "the worker to register", 120, proc)
    client.flushdb()  # what a Redis restart leaves behind
    assert not _listed(client, "inference", "inference-x")
    started = time.monotonic()
    wait_for(lambda: _listed(client, "default", "inference-x"), "the worker to register again", 30, proc)
    print(f"registered again {time.monotonic() - started:.1f} s after Redis lost it")  # shown with -s
    states = {s.name: s for s in queue_states()}
    assert states["inference"].workers == ["inference-x"] and states["default"].workers == ["inference-x"]
    firings, evaluated = queue_firings([states["inference"], states["default"]])
    assert evaluated and firings == [], "the dashboard raises no 'no worker' alert for a live worker"


def _killed_status() -> int:
    """A real wait status of a process that died of SIGKILL."""
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    os.kill(proc.pid, signal.SIGKILL)
    _pid, status = os.waitpid(proc.pid, 0)
    return status


class _RqJob:
    def __init__(self, func_name: str, *args):
        self.func_name, self.args, self.id = func_name, args, "x"


@pytest.mark.django_db
def test_a_sigkilled_horse_is_recorded_with_its_signal():
    from datasets_app.models import Dataset, DatasetValidation

    dataset = Dataset.objects.create(name="d", path="datasets/d.jsonl", status="validating")
    validation = DatasetValidation.objects.create(dataset=dataset)
    assert validation.claim("host:1")
    job = _RqJob(DatasetValidation.task_path, validation.pk)
    assert record_killed_horse(job, _killed_status())
    validation.refresh_from_db()
    dataset.refresh_from_db()
    assert validation.status == "failed"
    assert (
        validation.status_reason
        == f"{LOST}: its work horse was killed by signal 9 (SIGKILL); validate it again"
    )
    assert dataset.status == "failed" and "signal 9 (SIGKILL)" in dataset.status_reason
    assert not record_killed_horse(job, _killed_status()), "an ended row stays as it ended"
    assert not record_killed_horse(_RqJob("some.other.task", validation.pk), _killed_status())


@pytest.mark.integration
def test_a_worker_records_the_signal_that_killed_its_horse(rq_worker, data_root, user, settings):
    """The OOM killer's way: SIGKILL to the horse while the worker lives. The row says so at once, not later as
    "stopped responding"."""
    from datasets_app.library import services
    from datasets_app.models import DatasetValidation
    from tests.datasets_app.dataset_helpers import sft_rows, write_jsonl

    settings.RMN_DATASET_INLINE_MB = 0.001
    settings.RMN_HEARTBEAT_STALE_SECONDS = 3600  # only the signal can explain the end
    write_jsonl(data_root / "datasets" / "huge.jsonl", sft_rows(150_000))
    dataset = services.register_dataset_file("datasets/huge.jsonl", user=user)
    proc = rq_worker.start("default")  # the settings' RecoveringWorker (forking)
    validation = wait_for(
        lambda: (v := DatasetValidation.objects.get(dataset=dataset)).status == "running" and v,
        "the validation to start",
        120,
        proc,
    )
    horse = int(validation.worker.rsplit(":", 1)[1])
    assert horse != proc.pid, "a forking worker validates in its horse"
    os.kill(horse, signal.SIGKILL)
    ended = wait_for(
        lambda: (v := DatasetValidation.objects.get(pk=validation.pk)).status != "running" and v,
        "the worker to record the killed horse",
        60,
        proc,
    )
    assert ended.status == "failed" and "killed by signal 9 (SIGKILL)" in ended.status_reason, (
        ended.status_reason
    )
    assert proc.poll() is None, "the worker itself lives on"
