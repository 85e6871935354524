"""Monitoring API: summary cards, chart series, alerts and acknowledging them."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from ninja import Path, Query, Router, Schema
from pydantic import Field

from monitoring import queries, services
from monitoring.engine.ranges import RangeError
from monitoring.models import Alert
from rmnconsole.api_schemas import ERRORS
from rmnconsole.core.errors import ServiceError

router = Router(tags=["monitoring"])


class QueueOut(Schema):
    name: str
    depth: int
    workers: int
    error: str


class GpuOut(Schema):
    index: int
    name: str = ""
    utilization: float | None = None
    memory_used_mb: float | None = None
    memory_total_mb: float | None = None
    temperature_c: float | None = None
    power_w: float | None = None


class HostOut(Schema):
    host: str
    online: bool
    last_seen: datetime
    cuda: bool
    bitsandbytes: bool
    no_gpu_reason: str
    cpu_percent: float | None = None
    ram_used_mb: float | None = None
    ram_total_mb: float | None = None
    gpus: list[GpuOut]


class AlertCountsOut(Schema):
    total: int
    unacknowledged: int
    critical: int


class SummaryOut(Schema):
    at: datetime
    gpu_count: int
    gpu_utilization: float | None
    memory_used_mb: float | None
    memory_total_mb: float | None
    memory_percent: float | None
    tokens_per_second: float
    active_jobs: int
    jobs: dict[str, int]
    queues: list[QueueOut]
    workers_online: int
    hosts_online: int
    hosts: list[HostOut]
    alerts: AlertCountsOut


class SeriesOut(Schema):
    host: str
    gpu_index: int | None
    kind: Literal["gpu", "host"]
    name: str
    t: list[str]
    utilization: list[float | None] | None = None
    memory_used_mb: list[float | None] | None = None
    memory_total_mb: list[float | None] | None = None
    temperature_c: list[float | None] | None = None
    power_w: list[float | None] | None = None
    cpu_percent: list[float | None] | None = None
    ram_used_mb: list[float | None] | None = None
    ram_total_mb: list[float | None] | None = None


class SamplesOut(Schema):
    since: datetime
    until: datetime
    resolution_seconds: int
    bucket_seconds: int
    series: list[SeriesOut]


class SamplesQuery(Schema):
    host: str | None = Field(
        None, max_length=200, pattern=r"^[^\x00]*$", description="Worker host name; all hosts when empty."
    )
    gpu: int | None = Field(
        None, ge=0, le=1024, description="GPU index; every GPU plus the host's CPU/RAM row when empty."
    )
    since: str | None = Field(
        None, max_length=40, description="A duration (15m, 1h, 24h, 7d) or an ISO 8601 time. Default 1h."
    )


class AlertOut(Schema):
    id: int
    rule: str
    key: str
    severity: str
    message: str
    value: float | None
    threshold: float | None
    first_seen: datetime
    last_seen: datetime
    resolved_at: datetime | None
    acknowledged_by: str | None
    acknowledged_at: datetime | None

    @staticmethod
    def resolve_acknowledged_by(obj: Alert) -> str | None:
        return obj.acknowledged_by.get_username() if obj.acknowledged_by else None


class AlertsQuery(Schema):
    state: Literal["active", "resolved", "all"] = "active"
    limit: int = Field(100, ge=1, le=1000)


@router.get("/summary", response={200: SummaryOut, **ERRORS})
def summary(request):
    """Top-card numbers: GPU utilization and memory, throughput, jobs, queue depths, workers online, open alerts."""
    return queries.summary()


@router.get("/samples", response={200: SamplesOut, **ERRORS})
def samples(request, filters: Query[SamplesQuery]):
    """GPU and host time series, averaged into about 240 buckets per series (raw, 1-minute or 1-hour rows by range)."""
    try:
        return queries.series(host=filters.host or None, gpu=filters.gpu, since=filters.since)
    except RangeError as exc:
        raise ServiceError(str(exc), field="since") from exc


@router.get("/alerts", response={200: list[AlertOut], **ERRORS})
def alerts(request, filters: Query[AlertsQuery]):
    """Alerts, newest first: open ones by default (state=resolved or all for history)."""
    qs = Alert.objects.select_related("acknowledged_by")
    if filters.state == "active":
        qs = qs.filter(resolved_at__isnull=True)
    elif filters.state == "resolved":
        qs = qs.filter(resolved_at__isnull=False)
    return list(qs.order_by("-last_seen", "-id")[: filters.limit])


@router.post("/alerts/{alert_id}/ack", response={200: AlertOut, **ERRORS})
def acknowledge(request, alert_id: int = Path(..., ge=1, le=2**63 - 1)):
    """Acknowledge an alert: its banner disappears; the alert stays open until its condition clears."""
    return services.acknowledge_alert(alert_id, request.user)
