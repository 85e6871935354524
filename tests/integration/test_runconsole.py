"""`manage.py runconsole` on embedded defaults: SQLite, an embedded Redis, both workers and the web server."""

import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
import redis

from tests.support.ports import free_port

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.integration


def _wait_for(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.5)
    raise AssertionError(f"timed out waiting for {what}")


def test_runconsole_starts_everything_and_stops_cleanly(tmp_path):
    port = free_port()
    env = {
        **os.environ,
        "RMN_DATA_ROOT": str(tmp_path / "data"),
        "REDIS_URL": f"redis://127.0.0.1:{free_port()}/0",  # nothing listens: the embedded Redis must start
        "PYTHONUNBUFFERED": "1",
    }
    env.pop("DATABASE_URL", None)  # the zero-setup default: SQLite under the data root
    env.pop("RMN_TEST_DB_NAME", None)
    log = tmp_path / "console.log"
    with open(log, "w") as out:
        proc = subprocess.Popen(
            [sys.executable, "manage.py", "runconsole", "--no-seed", "--addr", f"127.0.0.1:{port}"],
            cwd=REPO,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        url = _wait_for(
            lambda: re.search(r"started an embedded one at (\S+)", log.read_text()), 60, "embedded redis"
        )
        client = redis.Redis.from_url(url.group(1))

        def _answers():
            try:
                with urllib.request.urlopen(
                    f"http://127.0.0.1:{port}/accounts/login/", timeout=2
                ) as response:
                    return response.status == 200
            except OSError:
                return False

        _wait_for(_answers, 90, "the web server")
        from rq import Queue, Worker

        def _queues_covered():
            covered = set()
            for worker in Worker.all(connection=client):
                covered |= set(worker.queue_names())
            return {"training", "inference", "default"} <= covered

        _wait_for(_queues_covered, 90, "a worker on every queue")
        assert Queue("training", connection=client).count == 0
        assert (tmp_path / "data" / "console.sqlite3").exists()
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        code = proc.wait(timeout=60)
    output = log.read_text()
    assert code == 0, output[-3000:]
    assert "stopped" in output
    with pytest.raises(redis.ConnectionError):
        client.ping()
