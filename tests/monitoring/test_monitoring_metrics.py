"""/metrics: Prometheus text format parsed back with prometheus_client's parser; token and allow-list protection."""

from __future__ import annotations

import pytest
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from monitoring.models import Alert

pytestmark = pytest.mark.django_db


def families(response) -> dict:
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("text/plain; version=")
    return {f.name: f for f in text_string_to_metric_families(response.content.decode())}


def samples_of(family, name=None) -> dict:
    return {
        tuple(sorted(s.labels.items())): s.value for s in family.samples if name is None or s.name == name
    }


def test_metrics_content(client, record, make_job):
    record("gpu-1", timezone.now(), gpus=[(87.0, 40_960.0)], cpu=12.0)
    make_job(status="running", tokens_per_second=1234.5)
    make_job(status="failed")
    Alert.objects.create(rule="memory", key="gpu-1/gpu0", severity="critical", message="x")
    fams = families(client.get("/metrics"))

    util = samples_of(fams["rmn_gpu_utilization_percent"])
    assert util == {(("gpu", "0"), ("host", "gpu-1"), ("name", "NVIDIA H100")): 87.0}
    used = samples_of(fams["rmn_gpu_memory_used_bytes"])
    assert list(used.values()) == [40_960.0 * 1024 * 1024]
    assert samples_of(fams["rmn_host_cpu_percent"]) == {(("host", "gpu-1"),): 12.0}
    assert samples_of(fams["rmn_worker_host_up"]) == {(("host", "gpu-1"),): 1.0}

    jobs = samples_of(fams["rmn_training_jobs"])
    assert (
        jobs[(("status", "running"),)] == 1
        and jobs[(("status", "failed"),)] == 1
        and jobs[(("status", "queued"),)] == 0
    )
    assert samples_of(fams["rmn_training_tokens_per_second"]) == {(): 1234.5}

    depth = samples_of(fams["rmn_queue_depth"])
    assert depth == {(("queue", "training"),): 0, (("queue", "inference"),): 0, (("queue", "default"),): 0}
    assert samples_of(fams["rmn_redis_up"]) == {(): 1.0}

    firing = samples_of(fams["rmn_alerts_firing"])
    assert firing[(("rule", "memory"), ("severity", "critical"))] == 1
    assert firing[(("rule", "gpu_utilization"), ("severity", "warning"))] == 0


def test_inference_latency_histogram(client, make_runs):
    make_runs([80.0, 150.0, 450.0])
    make_runs([5.0], status="failed")  # only completed runs have a meaningful latency
    fams = families(client.get("/metrics"))
    hist = fams["rmn_inference_latency_seconds"]
    assert hist.type == "histogram"
    buckets = {s.labels["le"]: s.value for s in hist.samples if s.name.endswith("_bucket")}
    assert buckets["0.05"] == 0 and buckets["0.1"] == 1 and buckets["0.2"] == 2 and buckets["0.5"] == 3
    assert buckets["+Inf"] == 3
    count = next(s.value for s in hist.samples if s.name.endswith("_count"))
    total = next(s.value for s in hist.samples if s.name.endswith("_sum"))
    assert count == 3 and total == pytest.approx(0.68)


def test_access_control(client, settings):
    settings.RMN_METRICS_TOKEN = "s3cret-token"
    settings.RMN_METRICS_ALLOW = ["10.0.0.0/8"]
    assert client.get("/metrics", REMOTE_ADDR="127.0.0.1").status_code == 401
    assert (
        client.get("/metrics", REMOTE_ADDR="127.0.0.1", HTTP_AUTHORIZATION="Bearer wrong").status_code == 401
    )
    assert (
        client.get("/metrics", REMOTE_ADDR="127.0.0.1", HTTP_AUTHORIZATION="Bearer s3cret-token").status_code
        == 200
    )
    assert (
        client.get("/metrics", REMOTE_ADDR="10.1.2.3").status_code == 200
    )  # inside the allow-listed network

    settings.RMN_METRICS_TOKEN = ""
    settings.RMN_METRICS_ALLOW = ["not-an-address", "192.168.1.7"]
    assert client.get("/metrics", REMOTE_ADDR="127.0.0.1").status_code == 403
    assert client.get("/metrics", REMOTE_ADDR="192.168.1.7").status_code == 200
    assert client.post("/metrics", REMOTE_ADDR="192.168.1.7").status_code == 405


def test_metrics_needs_no_login_and_skips_login_redirect(client):
    response = client.get("/metrics")  # anonymous, from the default allow-list address
    assert response.status_code == 200
    assert b"rmn_training_jobs" in response.content
