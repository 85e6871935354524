"""`manage.py monitor_host`: samples, announces capabilities, evaluates alerts, and stops cleanly on SIGTERM."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from monitoring.models import Alert, SystemSample, WorkerHost

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.django_db
def test_iterations_in_process():
    out = StringIO()
    before = signal.getsignal(signal.SIGINT)
    call_command("monitor_host", "--host", "cmd-box", "--iterations", "3", "--interval", "0.1", stdout=out)
    assert signal.getsignal(signal.SIGINT) is before  # handlers restored for whoever called us
    text = out.getvalue()
    assert "monitor_host cmd-box: every 0.1s; GPUs no GPU (No NVIDIA driver" in text
    assert "bitsandbytes yes" in text and text.rstrip().endswith("monitor_host cmd-box: stopped")
    assert SystemSample.objects.filter(host="cmd-box", gpu_index__isnull=True).count() == 3
    host = WorkerHost.objects.get(host="cmd-box")
    assert host.cuda is False and host.bitsandbytes is True and "NVML" in host.no_gpu_reason
    assert host.latest["cpu_percent"] is not None and host.stopped_at is not None and not host.is_online
    # It evaluated the alert rules: the test Redis has no workers, so every queue has a "no worker" alert.
    assert set(Alert.objects.active().filter(rule="queue_no_worker").values_list("key", flat=True)) == {
        "queue:training",
        "queue:inference",
        "queue:default",
    }


@pytest.mark.django_db
def test_bad_interval_is_one_clear_error():
    with pytest.raises(CommandError, match=r"--interval must be at least 0\.1 seconds"):
        call_command("monitor_host", "--once", "--interval", "0")


@pytest.mark.integration
def test_sigterm_stops_the_process_cleanly(child_env, tmp_path):
    log = (tmp_path / "monitor.log").open("w+")
    proc = subprocess.Popen(
        [
            sys.executable,
            str(REPO / "manage.py"),
            "monitor_host",
            "--host",
            "sig-box",
            "--interval",
            "0.5",
            "--no-alerts",
        ],
        cwd=REPO,
        env=child_env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 90
        while SystemSample.objects.filter(host="sig-box").count() < 2:
            assert proc.poll() is None, "monitor_host exited early"
            assert time.monotonic() < deadline, "monitor_host wrote no samples"
            time.sleep(0.2)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    log.seek(0)
    output = log.read()
    assert "monitor_host sig-box: stopped" in output
    assert output.count("No GPU on this host") == 1  # "no GPU" said once, not every tick
    assert "Traceback" not in output
    host = WorkerHost.objects.get(host="sig-box")
    assert host.stopped_at is not None and host.is_online is False
