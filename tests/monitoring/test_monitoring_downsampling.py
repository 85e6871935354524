"""Retention: raw samples are averaged into 1-minute and 1-hour rows, then deleted past their window."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from monitoring import queries, services
from monitoring.models import SystemSample

pytestmark = pytest.mark.django_db

T0 = datetime(2025, 3, 1, 9, 0, tzinfo=UTC)


@pytest.fixture
def three_hours(record):
    """3 hours of 10-second ticks for host a (2 GPUs): GPU 0 utilization = minute-of-hour, GPU 1 constant 50."""
    for i in range(3 * 360):
        at = T0 + timedelta(seconds=10 * i)
        record("a", at, gpus=[(float(at.minute), 1000.0 + i), (50.0, 2000.0)], cpu=float(i % 6))
    return T0 + timedelta(hours=3)


def test_rollup_averages_and_prunes(settings, three_hours):
    settings.RMN_SAMPLE_RAW_RETENTION_HOURS = 1
    now = three_hours  # 12:00:00, data up to 11:59:50
    counts = services.rollup_and_prune(now=now)

    minute = SystemSample.objects.filter(resolution=60)
    # 180 finished minutes × (host row + 2 GPUs)
    assert minute.count() == 180 * 3 == counts["minute_rows"]
    row = minute.get(host="a", gpu_index=0, at=T0 + timedelta(minutes=17))
    assert row.utilization == pytest.approx(17.0)
    # minute 17 holds ticks 102..107: memory 1000 + i averages to 1104.5
    assert row.memory_used_mb == pytest.approx(1104.5)
    assert row.gpu_name == "NVIDIA H100" and row.memory_total_mb == pytest.approx(80_000)
    host_row = minute.get(host="a", gpu_index=None, at=T0 + timedelta(minutes=5))
    assert host_row.cpu_percent == pytest.approx(2.5)  # mean of 0..5
    assert host_row.utilization is None

    five = SystemSample.objects.filter(resolution=300, host="a", gpu_index=0)
    assert five.count() == 36 and counts["five_minute_rows"] == 36 * 3
    assert five.get(at=T0 + timedelta(minutes=10)).utilization == pytest.approx(
        12.0
    )  # mean of minutes 10..14
    hour = SystemSample.objects.filter(resolution=3600, host="a", gpu_index=0)
    assert hour.count() == 3 and counts["hour_rows"] == 3 * 3
    assert hour.get(at=T0).utilization == pytest.approx(29.5)  # mean of minutes 0..59

    raw = SystemSample.objects.filter(resolution=0)
    assert raw.filter(at__lt=now - timedelta(hours=1)).count() == 0
    assert raw.filter(at__gte=now - timedelta(hours=1)).count() == 360 * 3  # the last hour stays raw
    assert counts["deleted"] == 2 * 360 * 3

    # Idempotent: a second run finds nothing new to roll up and nothing more to delete.
    again = services.rollup_and_prune(now=now)
    assert again == {"minute_rows": 0, "five_minute_rows": 0, "hour_rows": 0, "deleted": 0}


def test_rollup_is_incremental(record):
    for i in range(12):  # 2 minutes of 10 s ticks
        record("b", T0 + timedelta(seconds=10 * i), gpus=[(10.0 * (i // 6), 1.0)])
    services.rollup_and_prune(now=T0 + timedelta(minutes=1, seconds=5))
    assert SystemSample.objects.filter(resolution=60, gpu_index=0).count() == 1  # minute 1 still in progress
    services.rollup_and_prune(now=T0 + timedelta(minutes=2, seconds=5))
    rows = list(
        SystemSample.objects.filter(resolution=60, gpu_index=0)
        .order_by("at")
        .values_list("utilization", flat=True)
    )
    assert rows == [0.0, 10.0]


def test_series_reads_rollups_for_long_ranges(settings, three_hours):
    settings.RMN_SAMPLE_RAW_RETENTION_HOURS = 1
    now = three_hours + timedelta(seconds=30)
    services.rollup_and_prune(now=now)

    day = queries.series(host="a", gpu=0, since="24h", now=now)
    assert day["resolution_seconds"] == 300 and day["bucket_seconds"] == 300
    (s,) = day["series"]
    assert s["kind"] == "gpu" and s["name"] == "NVIDIA H100"
    assert len(s["t"]) == 36  # 3 h of data in 5-minute buckets
    assert s["utilization"][0] == pytest.approx(2.0)  # minutes 0..4

    four = queries.series(host="a", gpu=0, since="4h", now=now)
    assert four["resolution_seconds"] == 60 and len(four["series"][0]["t"]) == 180
    assert "cpu_percent" not in s

    hour = queries.series(host="a", since="1h", now=now)
    assert hour["resolution_seconds"] == 0 and hour["bucket_seconds"] == 15
    kinds = sorted(x["kind"] for x in hour["series"])
    assert kinds == ["gpu", "gpu", "host"]
    host = next(x for x in hour["series"] if x["kind"] == "host")
    assert "utilization" not in host and len(host["cpu_percent"]) == len(host["t"]) > 200
