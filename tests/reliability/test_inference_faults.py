"""Faults around the inference worker, with real worker processes: SIGKILL mid-run, Redis emptied while queued."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
import redis

from federation import runs
from federation.models import InferenceRun
from rmnconsole.core.recovery import LOST, recover_all
from tests.conftest import worker_env

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def _wait(predicate, timeout: float, proc=None, what: str = ""):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        if proc is not None and proc.poll() is not None:
            break
        time.sleep(0.1)
    log = Path(proc.log_path).read_text()[-3000:] if proc is not None and hasattr(proc, "log_path") else ""
    pytest.fail(f"timed out waiting for {what}\n{log}")


def _status(run: InferenceRun) -> str:
    run.refresh_from_db()
    return run.status


def test_sigkill_mid_run_ends_worker_lost_then_a_new_worker_serves(world, rq_worker, settings, monkeypatch):
    """Same host: the dead process is noticed at once. Elsewhere: its heartbeat goes silent and goes stale."""
    monkeypatch.setenv("RMN_HEARTBEAT_STALE_SECONDS", "5")  # the worker beats every 1.25 s
    settings.RMN_HEARTBEAT_STALE_SECONDS = 5
    federation = world.federation
    long_run = runs.submit_inference(
        federation, "Plan a budget for walmart.", max_new_tokens=1024, user=world.user
    )
    worker = rq_worker.start("inference", simple=True)
    _wait(lambda: _status(long_run) == "running", 120, worker, "the run to start")
    first_beat = long_run.heartbeat_at
    _wait(
        lambda: InferenceRun.objects.get(pk=long_run.pk).heartbeat_at > first_beat, 30, worker, "a heartbeat"
    )
    os.kill(worker.pid, signal.SIGKILL)
    worker.wait(timeout=10)
    killed_at = time.monotonic()

    # Another host's view: the pid means nothing there, only the silence of the heartbeat does.
    InferenceRun.objects.filter(pk=long_run.pk).update(worker="gpu-elsewhere:4242")
    _wait(lambda: recover_all() and _status(long_run) != "running", 120, what="the sweep to end the run")
    assert time.monotonic() - killed_at < 120
    print(f"worker lost recorded {time.monotonic() - killed_at:.1f} s after the SIGKILL")  # shown with -s
    long_run.refresh_from_db()
    assert long_run.status == "failed"
    assert long_run.error.startswith(LOST) and "no heartbeat since" in long_run.error
    assert long_run.finished_at is not None

    second = rq_worker.start("inference", simple=True)
    follow_up = runs.submit_inference(federation, "Plan a budget.", max_new_tokens=4, user=world.user)
    _wait(lambda: _status(follow_up) in ("completed", "failed"), 120, second, "the next run")
    assert follow_up.status == "completed", follow_up.error
    long_run.refresh_from_db()
    assert long_run.status == "failed", "a later worker never revives a run that was declared lost"


def test_sigkill_on_this_host_is_noticed_without_waiting_for_staleness(world, rq_worker, settings):
    settings.RMN_HEARTBEAT_STALE_SECONDS = 3600
    run = runs.submit_inference(world.federation, "Plan a budget.", max_new_tokens=1024, user=world.user)
    worker = rq_worker.start("inference", simple=True)
    _wait(lambda: _status(run) == "running", 120, worker, "the run to start")
    os.kill(worker.pid, signal.SIGKILL)
    worker.wait(timeout=10)
    recover_all()
    run.refresh_from_db()
    assert run.status == "failed" and run.error.startswith(LOST) and "is gone" in run.error


def test_redis_emptied_while_queued_a_starting_worker_puts_the_runs_back(world, rq_worker, settings):
    """Redis keeps nothing on disk: a restart empties it. The database still lists the queued runs."""
    federation = world.federation
    queued = [
        runs.submit_inference(federation, f"Prompt {i}", max_new_tokens=3, user=world.user) for i in range(2)
    ]
    client = redis.Redis.from_url(settings.REDIS_URL)
    assert client.llen("rq:queue:inference") == 2
    client.flushdb()  # what a Redis restart leaves behind
    InferenceRun.objects.update(created_at=InferenceRun.objects.first().created_at.replace(year=2000))
    args = [*rq_worker._args(("inference",), True, False, None)]
    args += ["--worker-class", "rmnconsole.workers.RecoveringSimpleWorker"]
    result = subprocess.run(args, env=worker_env(settings), capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "re-enqueued" in result.stderr + result.stdout
    for run in queued:
        run.refresh_from_db()
        assert run.status == "completed", (run.status, run.error, result.stderr[-2000:])
    # Each ran once: one worker claimed each row (compare-and-set), and nothing is left queued anywhere.
    assert len({run.worker for run in queued}) == 1
    assert client.llen("rq:queue:inference") == 0


def test_a_run_claimed_twice_runs_once(world):
    """A duplicate queue entry (a requeue racing the original) finds the row already claimed."""
    from federation.tasks import run_inference

    run = runs.submit_inference(
        world.federation, "Plan a budget.", max_new_tokens=3, user=world.user, enqueue=False
    )
    run_inference(run.pk)
    run.refresh_from_db()
    assert run.status == "completed", run.error
    finished, response = run.finished_at, run.response
    run_inference(run.pk)
    run.refresh_from_db()
    assert (run.finished_at, run.response) == (finished, response)
