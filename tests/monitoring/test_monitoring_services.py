"""Host capabilities (where a job can run) and the Python facade."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from monitoring import services
from monitoring.engine.capabilities import Capabilities
from monitoring.models import Alert, WorkerHost

pytestmark = pytest.mark.django_db


def caps(host, *, gpus=(), cuda=False, bnb=True):
    return Capabilities(
        host=host,
        gpus=[{"index": i, "name": "GPU", "memory_total_mb": m} for i, m in enumerate(gpus)],
        cuda=cuda,
        bitsandbytes=bnb,
        bitsandbytes_version="0.50.2" if bnb else "",
        no_gpu_reason="" if gpus else "No NVIDIA driver",
    )


def test_announce_and_capable_hosts():
    services.announce_host(caps("big", gpus=[81_559.0], cuda=True), pid=123)
    services.announce_host(caps("small", gpus=[23_028.0], cuda=True, bnb=False))
    services.announce_host(caps("laptop"))
    services.announce_host(caps("old", gpus=[81_559.0], cuda=True), now=timezone.now() - timedelta(hours=2))
    big = WorkerHost.objects.get(host="big")
    assert big.gpu_count == 1 and big.cuda and big.pid == 123 and big.first_seen is not None
    assert big.gpu_summary == "GPU (80 GiB)"
    assert WorkerHost.objects.get(host="laptop").gpu_summary == "No NVIDIA driver"

    names = lambda hosts: sorted(h.host for h in hosts)  # noqa: E731
    assert names(services.capable_hosts()) == ["big", "laptop", "small"]  # "old" is offline
    assert names(services.capable_hosts(needs_cuda=True)) == ["big", "small"]
    assert names(services.capable_hosts(needs_cuda=True, needs_bitsandbytes=True)) == ["big"]
    assert names(services.capable_hosts(needs_cuda=True, min_gpu_memory_mb=40_000)) == ["big"]

    services.mark_host_stopped("big")
    assert names(services.capable_hosts(needs_cuda=True)) == ["small"]
    services.announce_host(caps("big", gpus=[81_559.0], cuda=True))  # restarted: online again
    assert WorkerHost.objects.get(host="big").stopped_at is None


def test_python_facade(record, user):
    from rmnconsole import console

    record("f-host", timezone.now(), gpus=[(91.0, 1.0)])
    summary = console.get_system_summary()
    assert summary["gpu_utilization"] == 91.0
    assert console.get_system_samples(host="f-host", gpu=0)["series"][0]["utilization"] == [91.0]
    alert = Alert.objects.create(rule="memory", key="f-host/gpu0", message="m")
    assert [a["id"] for a in console.list_alerts()] == [alert.pk]
    assert console.acknowledge_alert(alert.pk, user)["acknowledged_at"] is not None
    with pytest.raises(ValueError):
        console.list_alerts("bogus")


def test_rq_tasks_run_the_same_housekeeping(record):
    from monitoring import tasks
    from monitoring.models import SystemSample

    start = timezone.now() - timedelta(minutes=3)
    for i in range(12):
        record("t-host", start + timedelta(seconds=10 * i), gpus=[(99.0, 1.0)])
    assert tasks.rollup_and_prune()["minute_rows"] >= 2 * 2
    assert SystemSample.objects.filter(resolution=60, host="t-host").exists()
    assert tasks.evaluate_alerts()["opened"] >= 3  # the three queues of the test Redis have no worker
