"""A host whose CPU stays saturated raises an alert; a short burst, or a window the samples do not cover, does not."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from monitoring.alerts import Thresholds, evaluate_alerts
from monitoring.engine.ranges import RAW
from monitoring.models import Alert, SystemSample

pytestmark = pytest.mark.django_db


def _cpu(host: str, now, minutes: float, percent: float, every: int = 30):
    SystemSample.objects.bulk_create(
        SystemSample(
            host=host, gpu_index=None, resolution=RAW, at=now - timedelta(seconds=s), cpu_percent=percent
        )
        for s in range(0, int(minutes * 60), every)
    )


def _no_queues():
    return []


def test_sustained_saturation_fires_and_clears():
    now = timezone.now()
    _cpu("busy", now, 20, 99.0)
    _cpu("burst", now, 2, 100.0)  # two saturated minutes only: not covered by the 10-minute window
    _cpu("calm", now, 20, 40.0)
    result = evaluate_alerts(now, thresholds=Thresholds(), queue_states=_no_queues)
    opened = {(a.rule, a.key) for a in result.opened}
    assert ("cpu_saturation", "busy/cpu") in opened
    assert not {k for r, k in opened if r == "cpu_saturation"} - {"busy/cpu"}
    alert = Alert.objects.get(rule="cpu_saturation")
    assert alert.message == "busy CPU averaged 99% over 10 min > 95%"

    later = now + timedelta(minutes=15)
    _cpu("busy", later, 12, 30.0)
    result = evaluate_alerts(later, thresholds=Thresholds(), queue_states=_no_queues)
    assert [a.key for a in result.resolved if a.rule == "cpu_saturation"] == ["busy/cpu"]
