"""Each alert rule fires once while its condition lasts and clears once when it ends; no duplicates."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import IntegrityError, transaction
from django.utils import timezone

from monitoring import alerts
from monitoring.alerts import Firing, Thresholds
from monitoring.models import Alert

pytestmark = pytest.mark.django_db

T = Thresholds(
    gpu_utilization=95,
    memory_percent=90,
    plateau_steps=5,
    plateau_tolerance=0.01,
    heartbeat_stale_seconds=90,
    window_seconds=60,
)


def no_queue_states():
    return []  # queue rule covered by its own test against real Redis


def run(now):
    return alerts.evaluate_alerts(now, thresholds=T, queue_states=no_queue_states)


def test_gpu_utilization_fires_once_then_clears(record):
    now = timezone.now()
    for s in (50, 40, 30, 20, 10):
        record("gpu-a", now - timedelta(seconds=s), gpus=[(99.0, 1000.0), (40.0, 1000.0)])
    first = run(now)
    assert [(a.rule, a.key) for a in first.opened] == [("gpu_utilization", "gpu-a/gpu0")]
    assert "utilization 99% > 95%" in first.opened[0].message
    second = run(now + timedelta(seconds=5))  # still hot: same row, refreshed
    assert second.opened == [] and [a.pk for a in second.refreshed] == [first.opened[0].pk]
    assert Alert.objects.filter(rule="gpu_utilization").count() == 1

    later = now + timedelta(minutes=5)
    for s in (50, 30, 10):
        record("gpu-a", later - timedelta(seconds=s), gpus=[(60.0, 1000.0), (40.0, 1000.0)])
    cleared = run(later)
    assert [a.pk for a in cleared.resolved] == [first.opened[0].pk]
    alert = Alert.objects.get()
    assert alert.resolved_at == later and alert.last_seen == later
    assert run(later + timedelta(seconds=5)).resolved == []  # cleared exactly once


def test_memory_fires_for_vram_and_ram_then_clears(record):
    now = timezone.now()
    record(
        "gpu-b", now - timedelta(seconds=10), gpus=[(10.0, 76_000.0)], ram_used=15_500.0, ram_total=16_000.0
    )
    opened = {a.key: a for a in run(now).opened}
    assert set(opened) == {"gpu-b/gpu0", "gpu-b/ram"}
    assert opened["gpu-b/gpu0"].rule == "memory" and opened["gpu-b/gpu0"].severity == "warning"  # 95%
    assert opened["gpu-b/ram"].severity == "warning" and "RAM 97% used" in opened["gpu-b/ram"].message
    later = now + timedelta(minutes=2)
    record("gpu-b", later - timedelta(seconds=10), gpus=[(10.0, 10_000.0)], ram_used=4_000.0)
    assert {a.key for a in run(later).resolved} == {"gpu-b/gpu0", "gpu-b/ram"}
    assert Alert.objects.active().count() == 0


def test_loss_plateau_fires_for_running_job_then_clears(make_job):
    from training.models import TrainingMetric

    job = make_job(status="running", heartbeat_at=timezone.now())
    # The last 5 logged losses: best 0.998 vs 1.0 before them → 0.2 % better, under the 1 % tolerance.
    losses = [2.0, 1.5, 1.2, 1.0, 0.998, 1.0, 0.999, 1.0, 1.0]
    TrainingMetric.objects.bulk_create(
        [TrainingMetric(job=job, step=10 * (i + 1), loss=v) for i, v in enumerate(losses)]
        + [TrainingMetric(job=job, step=95, eval_loss=1.1)]  # eval-only rows do not count as logged losses
    )
    now = timezone.now()
    (alert,) = run(now).opened
    assert alert.rule == "loss_plateau" and alert.key == f"job:{job.pk}" and alert.severity == "info"
    assert "last 5 logged steps" in alert.message
    assert run(now + timedelta(seconds=5)).opened == []

    TrainingMetric.objects.create(job=job, step=100, loss=0.7)  # it learns again
    (resolved,) = run(now + timedelta(seconds=10)).resolved
    assert resolved.pk == alert.pk


def test_plateau_ignores_finished_jobs(make_job):
    from training.models import TrainingMetric

    job = make_job(status="completed")
    TrainingMetric.objects.bulk_create([TrainingMetric(job=job, step=i, loss=1.0) for i in range(20)])
    assert run(timezone.now()).opened == []


def test_stale_heartbeat_fires_then_clears(make_job):
    now = timezone.now()
    job = make_job(status="running", heartbeat_at=now - timedelta(seconds=300), worker_host="gpu-c")
    make_job(status="running", heartbeat_at=now - timedelta(seconds=10))  # healthy neighbour
    (alert,) = run(now).opened
    assert alert.rule == "stale_heartbeat" and alert.key == f"job:{job.pk}" and alert.severity == "critical"
    assert "on gpu-c: no heartbeat for 300 s" in alert.message
    job.heartbeat_at = now + timedelta(seconds=1)
    job.save(update_fields=["heartbeat_at"])
    assert [a.pk for a in run(now + timedelta(seconds=5)).resolved] == [alert.pk]

    # A job that ends (failed by the sweeper) also clears its alert.
    job.heartbeat_at = now - timedelta(seconds=600)
    job.save(update_fields=["heartbeat_at"])
    (again,) = run(now + timedelta(seconds=10)).opened
    assert again.pk != alert.pk  # a new occurrence is a new row
    job.status = "failed"
    job.save(update_fields=["status"])
    assert [a.pk for a in run(now + timedelta(seconds=15)).resolved] == [again.pk]


def test_queue_without_worker_against_real_redis(rq_workers_on):
    from rq import Queue

    from rmnconsole.core.queues import get_queue

    # A plain rq Queue enqueues at once (django-rq's waits for a commit that a django_db test never makes).
    Queue("training", connection=get_queue("training").connection).enqueue("monitoring.tasks.evaluate_alerts")
    now = timezone.now()
    result = alerts.evaluate_alerts(now, thresholds=T)
    by_key = {a.key: a for a in result.opened}
    assert set(by_key) == {"queue:training", "queue:inference", "queue:default"}
    assert (
        by_key["queue:training"].severity == "critical"
        and "1 job(s) waiting" in by_key["queue:training"].message
    )
    assert by_key["queue:inference"].severity == "warning"

    rq_workers_on("training", "inference", "default")
    result = alerts.evaluate_alerts(now + timedelta(seconds=5), thresholds=T)
    assert {a.key for a in result.resolved} == set(by_key)
    assert Alert.objects.active().count() == 0


def test_redis_down_neither_fires_nor_clears_queue_alerts():
    from rmnconsole.health import QueueState

    Alert.objects.create(rule="queue_no_worker", key="queue:training", message="old", severity="warning")
    result = alerts.evaluate_alerts(
        timezone.now(), thresholds=T, queue_states=lambda: [QueueState("training", error="Redis unavailable")]
    )
    assert result.skipped_rules == ["queue_no_worker"]
    assert result.resolved == [] and Alert.objects.active().count() == 1


def test_database_refuses_a_second_open_alert_for_the_same_key():
    Alert.objects.create(rule="memory", key="h/gpu0", message="first")
    with pytest.raises(IntegrityError), transaction.atomic():
        Alert.objects.create(rule="memory", key="h/gpu0", message="second")
    # …but a resolved one does not block a new occurrence.
    Alert.objects.filter(key="h/gpu0").update(resolved_at=timezone.now())
    Alert.objects.create(rule="memory", key="h/gpu0", message="again")
    assert Alert.objects.filter(key="h/gpu0").count() == 2


def test_racing_monitor_refreshes_instead_of_duplicating():
    now = timezone.now()
    theirs = Alert.objects.create(
        rule="memory", key="h/gpu1", message="theirs", first_seen=now, last_seen=now
    )
    alert, created = alerts._open(
        Firing("memory", "h/gpu1", "critical", "mine", 99.0, 90.0), now + timedelta(seconds=1)
    )
    assert created is False and alert.pk == theirs.pk
    theirs.refresh_from_db()
    assert theirs.message == "mine" and theirs.severity == "critical" and theirs.value == 99.0
