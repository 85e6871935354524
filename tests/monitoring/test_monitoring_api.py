"""/api/monitoring/*: summary, samples, alerts, acknowledge — shapes, errors, auth and constant query counts."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from monitoring.models import Alert

pytestmark = pytest.mark.django_db


def test_requires_authentication(client):
    for url in ("/api/monitoring/summary", "/api/monitoring/samples", "/api/monitoring/alerts"):
        response = client.get(url)
        assert response.status_code == 401 and "detail" in response.json()
    assert client.post("/api/monitoring/alerts/1/ack").status_code == 401


def test_summary_cards(client, api_headers, record, make_job):
    now = timezone.now()
    record("gpu-1", now, gpus=[(80.0, 40_000.0), (60.0, 20_000.0)])
    record("cpu-1", now)  # a host without GPUs
    make_job(status="running", tokens_per_second=1500.0)
    make_job(status="running", tokens_per_second=500.0)
    make_job(status="queued")
    make_job(status="completed", tokens_per_second=9999.0)  # finished jobs do not count towards throughput
    body = client.get("/api/monitoring/summary", **api_headers).json()
    assert body["gpu_count"] == 2
    assert body["gpu_utilization"] == pytest.approx(70.0)
    assert body["memory_used_mb"] == pytest.approx(60_000) and body["memory_total_mb"] == pytest.approx(
        160_000
    )
    assert body["tokens_per_second"] == pytest.approx(2000.0)
    assert body["active_jobs"] == 3 and body["jobs"]["running"] == 2 and body["jobs"]["completed"] == 1
    assert [q["name"] for q in body["queues"]] == ["training", "inference", "default"]
    assert body["hosts_online"] == 2 and body["workers_online"] == 0
    hosts = {h["host"]: h for h in body["hosts"]}
    assert hosts["gpu-1"]["gpus"][1]["utilization"] == 60.0 and hosts["cpu-1"]["gpus"] == []


def test_offline_host_does_not_count(client, api_headers, record):
    record("gone", timezone.now() - timedelta(hours=1), gpus=[(99.0, 1.0)])
    body = client.get("/api/monitoring/summary", **api_headers).json()
    assert body["gpu_count"] == 0 and body["gpu_utilization"] is None and body["hosts_online"] == 0
    assert body["hosts"][0]["online"] is False


def test_samples_filters_and_validation(client, api_headers, record):
    now = timezone.now()
    for i in range(10):
        record("h1", now - timedelta(seconds=30 * i), gpus=[(float(i), 1.0), (50.0, 1.0)])
        record("h2", now - timedelta(seconds=30 * i), gpus=[(1.0, 1.0)])
    everything = client.get("/api/monitoring/samples", **api_headers).json()
    assert {(s["host"], s["gpu_index"]) for s in everything["series"]} == {
        ("h1", None),
        ("h1", 0),
        ("h1", 1),
        ("h2", None),
        ("h2", 0),
    }
    one = client.get("/api/monitoring/samples?host=h1&gpu=0&since=15m", **api_headers).json()
    (series,) = one["series"]
    assert (
        series["kind"] == "gpu"
        and len(series["t"]) == 10
        and sorted(series["utilization"]) == [float(i) for i in range(10)]
    )
    assert one["resolution_seconds"] == 0

    bad = client.get("/api/monitoring/samples?since=yesterday", **api_headers)
    assert bad.status_code == 400 and bad.json()["field"] == "since"
    assert client.get("/api/monitoring/samples?gpu=-1", **api_headers).status_code == 422
    # refused by the NUL-byte guard before the endpoint sees it
    assert client.get("/api/monitoring/samples?host=a%00b", **api_headers).status_code == 400


def test_alerts_list_and_acknowledge(client, api_headers, user):
    now = timezone.now()
    active = Alert.objects.create(
        rule="memory", key="h/gpu0", message="GPU 0 memory 95%", first_seen=now, last_seen=now
    )
    Alert.objects.create(rule="memory", key="h/gpu1", message="old", resolved_at=now)
    listed = client.get("/api/monitoring/alerts", **api_headers).json()
    assert [a["id"] for a in listed] == [active.pk]
    assert len(client.get("/api/monitoring/alerts?state=all", **api_headers).json()) == 2
    assert client.get("/api/monitoring/alerts?state=bogus", **api_headers).status_code == 422

    acked = client.post(f"/api/monitoring/alerts/{active.pk}/ack", **api_headers)
    assert acked.status_code == 200
    assert acked.json()["acknowledged_by"] == user.username and acked.json()["resolved_at"] is None
    again = client.post(f"/api/monitoring/alerts/{active.pk}/ack", **api_headers)
    assert again.status_code == 409 and "already acknowledged by analyst" in again.json()["detail"]
    assert client.post("/api/monitoring/alerts/999999/ack", **api_headers).status_code == 404

    from rmnconsole.models import AuditEvent

    assert (
        AuditEvent.objects.filter(action="acknowledge", object_type="Alert", object_id=str(active.pk)).count()
        == 1
    )


def _query_count(client, url, headers) -> int:
    with CaptureQueriesContext(connection) as ctx:
        assert client.get(url, **headers).status_code == 200
    return len(ctx.captured_queries)


def test_query_counts_do_not_grow_with_data(client, api_headers, record, make_job):
    from training.models import TrainingMetric

    urls = (
        "/api/monitoring/summary",
        "/api/monitoring/samples?since=24h",
        "/api/monitoring/samples?since=1h&host=h0",
    )
    now = timezone.now()
    record("h0", now, gpus=[(1.0, 1.0)])
    make_job(status="running")
    client.get(
        "/api/monitoring/summary", **api_headers
    )  # the token's once-a-minute last-used UPDATE happens here
    small = [_query_count(client, u, api_headers) for u in urls]

    for h in range(4):
        for i in range(30):
            record(f"h{h}", now - timedelta(seconds=20 * i), gpus=[(1.0, 1.0)] * 4)
    for _ in range(20):
        job = make_job(status="running", tokens_per_second=10.0)
        TrainingMetric.objects.bulk_create([TrainingMetric(job=job, step=s, loss=1.0) for s in range(5)])
    for _ in range(20):
        make_job(status="completed")
    large = [_query_count(client, u, api_headers) for u in urls]
    assert large == small
    assert large == [4, 2, 2]  # token lookup + (hosts, job counts, alert counts) | (one GROUP BY query)


def test_adapter_performance_and_loss_curves(base_model, make_job, make_runs):
    from monitoring import queries
    from training.models import Adapter, TrainingMetric

    job = make_job(status="running", current_step=2000, total_steps=3000)
    TrainingMetric.objects.bulk_create(
        [TrainingMetric(job=job, step=s, loss=3.0 - s / 1000) for s in range(1, 2001)]
    )
    TrainingMetric.objects.create(job=job, step=2000, eval_loss=1.2)
    done = make_job(
        status="completed",
        started_at=timezone.now(),
        finished_at=timezone.now(),
        current_step=3,
        total_steps=3,
    )
    TrainingMetric.objects.bulk_create([TrainingMetric(job=done, step=s, loss=1.0) for s in (1, 2, 3)])
    make_job(status="queued")  # never started: no curve

    curves = {c["job_id"]: c for c in queries.loss_curves(max_points=300)}
    assert set(curves) == {job.pk, done.pk}
    big = curves[job.pk]
    assert len(big["step"]) <= 300 and big["step"][-1] == 2000  # long curves are averaged per step bucket
    assert big["loss"][0] == pytest.approx(3.0 - 0.004, abs=0.01) and big["eval_loss"][-1] == pytest.approx(
        1.2
    )
    assert curves[done.pk]["step"] == [1, 2, 3]

    for version, metrics in ((1, {"eval_loss": 0.8, "token_accuracy": 0.71}), (2, {"eval_loss": 0.6})):
        Adapter.objects.create(
            adapter_type="task",
            name="mon-adapter",
            version=version,
            base_model=base_model,
            rank=8,
            alpha=16,
            path=f"adapters/x{version}",
            metrics=metrics,
        )
    make_runs([100.0, 300.0, 200.0], adapters=["mon-adapter v1"])
    perf = {p["label"]: p for p in queries.adapter_performance()}
    assert perf["mon-adapter v1"]["eval_loss"] == 0.8 and perf["mon-adapter v1"]["token_accuracy"] == 0.71
    assert perf["mon-adapter v1"]["latency_ms_p50"] == 200.0 and perf["mon-adapter v1"]["inference_runs"] == 3
    assert (
        perf["mon-adapter v2"]["latency_ms_p50"] is None and perf["mon-adapter v2"]["token_accuracy"] is None
    )
