"""Monitoring use cases that write: record samples, announce hosts, roll up and prune, acknowledge alerts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Avg, Max, Min
from django.utils import timezone

from monitoring import live as monitoring_live
from monitoring.engine.capabilities import Capabilities
from monitoring.engine.ranges import FINER, FIVE_MINUTES, HOUR, MINUTE, RAW, RESOLUTIONS, bucket_start
from monitoring.engine.sampler import GAUGES, Snapshot
from monitoring.models import Alert, SystemSample, WorkerHost
from monitoring.sql import EpochBucket
from rmnconsole.core import audit
from rmnconsole.core.errors import Conflict, NotFound
from rmnconsole.core.users import signed_in


def retention() -> dict[int, timedelta]:
    """How long each resolution is kept. Each chart range reads the coarsest level that covers it (engine.ranges)."""
    return {
        RAW: timedelta(hours=float(settings.RMN_SAMPLE_RAW_RETENTION_HOURS)),
        MINUTE: timedelta(days=float(settings.RMN_SAMPLE_MINUTE_RETENTION_DAYS)),
        FIVE_MINUTES: timedelta(days=float(settings.RMN_SAMPLE_5MIN_RETENTION_DAYS)),
        HOUR: timedelta(days=float(settings.RMN_SAMPLE_HOUR_RETENTION_DAYS)),
    }


def _snapshot_latest(snapshot: Snapshot) -> dict:
    return {
        "at": snapshot.at.isoformat(),
        "cpu_percent": snapshot.host.cpu_percent,
        "ram_used_mb": snapshot.host.ram_used_mb,
        "ram_total_mb": snapshot.host.ram_total_mb,
        "gpus": [
            {
                "index": g.index,
                "name": g.name,
                "utilization": g.utilization,
                "memory_used_mb": g.memory_used_mb,
                "memory_total_mb": g.memory_total_mb,
                "temperature_c": g.temperature_c,
                "power_w": g.power_w,
                "error": g.error,
            }
            for g in snapshot.gpus
        ],
    }


@transaction.atomic
def record_snapshot(host: str, snapshot: Snapshot) -> list[SystemSample]:
    """Store one tick: a host row (CPU/RAM) plus one row per GPU, and refresh the host's latest readings."""
    at = snapshot.at
    rows = [
        SystemSample(
            host=host,
            gpu_index=None,
            at=at,
            cpu_percent=snapshot.host.cpu_percent,
            ram_used_mb=snapshot.host.ram_used_mb,
            ram_total_mb=snapshot.host.ram_total_mb,
        )
    ]
    for g in snapshot.gpus:
        rows.append(
            SystemSample(
                host=host,
                gpu_index=g.index,
                at=at,
                gpu_name=g.name[:200],
                utilization=g.utilization,
                memory_used_mb=g.memory_used_mb,
                memory_total_mb=g.memory_total_mb,
                temperature_c=g.temperature_c,
                power_w=g.power_w,
                error=g.error[:300],
            )
        )
    created = SystemSample.objects.bulk_create(rows)
    latest = _snapshot_latest(snapshot)
    updated = WorkerHost.objects.filter(host=host).update(
        latest=latest, last_seen=at, no_gpu_reason=snapshot.no_gpu_reason[:300]
    )
    if not updated:
        WorkerHost.objects.create(
            host=host,
            latest=latest,
            first_seen=at,
            last_seen=at,
            no_gpu_reason=snapshot.no_gpu_reason[:300],
        )
    monitoring_live.sample_recorded(host, latest)
    return created


@transaction.atomic
def announce_host(caps: Capabilities, *, pid: int | None = None, now: datetime | None = None) -> WorkerHost:
    """Register (or refresh) a worker host's capabilities; the UI shows where each kind of job can run."""
    now = now or timezone.now()
    fields = {
        "gpus": caps.gpus,
        "gpu_count": len(caps.gpus),
        "cuda": caps.cuda,
        "cuda_version": caps.cuda_version[:20],
        "driver_version": caps.driver_version[:40],
        "bitsandbytes": caps.bitsandbytes,
        "bitsandbytes_version": caps.bitsandbytes_version[:40],
        "torch_version": caps.torch_version[:40],
        "cpu_count": caps.cpu_count,
        "ram_total_mb": caps.ram_total_mb,
        "platform": caps.platform[:200],
        "no_gpu_reason": caps.no_gpu_reason[:300],
        "last_seen": now,
        "pid": pid,
        "stopped_at": None,
    }
    # create_defaults replaces defaults on insert (Django 5), so it must carry every field too.
    host, _ = WorkerHost.objects.update_or_create(
        host=caps.host, defaults=fields, create_defaults={**fields, "first_seen": now}
    )
    return host


def mark_host_stopped(host: str, now: datetime | None = None) -> None:
    WorkerHost.objects.filter(host=host).update(stopped_at=now or timezone.now())


def capable_hosts(
    *, needs_cuda: bool = False, needs_bitsandbytes: bool = False, min_gpu_memory_mb: float = 0
):
    """Online hosts that can run a job with these needs (QLoRA on GPU: cuda + bitsandbytes)."""
    hosts = WorkerHost.objects.online().filter(stopped_at__isnull=True)
    if needs_cuda:
        hosts = hosts.filter(cuda=True)
    if needs_bitsandbytes:
        hosts = hosts.filter(bitsandbytes=True)
    hosts = list(hosts)
    if min_gpu_memory_mb:
        hosts = [
            h for h in hosts if any((g.get("memory_total_mb") or 0) >= min_gpu_memory_mb for g in h.gpus)
        ]
    return hosts


def _rollup_level(host: str, source: int, target: int, now: datetime) -> int:
    """Average `source` rows into `target`-wide rows for every finished bucket not yet rolled up."""
    end = bucket_start(now, target)
    last = SystemSample.objects.filter(host=host, resolution=target).aggregate(m=Max("at"))["m"]
    if last is not None:
        start = last + timedelta(seconds=target)
    else:
        first = SystemSample.objects.filter(host=host, resolution=source).aggregate(m=Min("at"))["m"]
        if first is None:
            return 0
        start = bucket_start(first, target)
    if start >= end:
        return 0
    groups = (
        SystemSample.objects.filter(host=host, resolution=source, at__gte=start, at__lt=end)
        .annotate(bucket=EpochBucket("at", target))
        .values("gpu_index", "bucket")
        .annotate(gpu_name=Max("gpu_name"), **{f: Avg(f) for f in GAUGES})
        .order_by("bucket", "gpu_index")
    )
    rows = [
        SystemSample(
            host=host,
            gpu_index=g["gpu_index"],
            resolution=target,
            at=datetime.fromtimestamp(int(g["bucket"]), tz=UTC),
            gpu_name=g["gpu_name"] or "",
            **{f: g[f] for f in GAUGES},
        )
        for g in groups
    ]
    SystemSample.objects.bulk_create(rows, batch_size=2000)
    return len(rows)


ROLLUP_NAMES = {MINUTE: "minute_rows", FIVE_MINUTES: "five_minute_rows", HOUR: "hour_rows"}


def rollup_and_prune(now: datetime | None = None, host: str | None = None) -> dict[str, int]:
    """Downsample raw → 1-minute → 5-minute → 1-hour averages, then delete rows past each level's retention.

    Each host is processed under a row lock on its WorkerHost, so two monitors never roll up the same bucket twice.
    """
    now = now or timezone.now()
    keep = retention()
    counts = {**{name: 0 for name in ROLLUP_NAMES.values()}, "deleted": 0}
    coarser = {level: next((r for r in RESOLUTIONS if r > level), None) for level in RESOLUTIONS}
    hosts = [host] if host else list(WorkerHost.objects.values_list("host", flat=True))
    for name in hosts:
        with transaction.atomic():
            if not WorkerHost.objects.select_for_update().filter(host=name).exists():
                continue
            for level, counter in ROLLUP_NAMES.items():
                counts[counter] += _rollup_level(name, FINER[level], level, now)
            for level, window in keep.items():
                cutoff = now - window
                if coarser[level] is not None:
                    # Never delete rows the next level has not absorbed yet (it stops at its current bucket).
                    cutoff = min(cutoff, bucket_start(now, coarser[level]))
                deleted, _ = SystemSample.objects.filter(host=name, resolution=level, at__lt=cutoff).delete()
                counts["deleted"] += deleted
    return counts


@transaction.atomic
def acknowledge_alert(alert_id: int, user) -> Alert:
    alert = Alert.objects.select_for_update().filter(pk=alert_id).first()
    if alert is None:
        raise NotFound(f"Alert {alert_id} does not exist")
    if alert.acknowledged_at is not None:
        raise Conflict(f"Alert {alert_id} was already acknowledged by {alert.acknowledged_by or 'someone'}")
    alert.acknowledged_by = signed_in(user)
    alert.acknowledged_at = timezone.now()
    alert.save(update_fields=["acknowledged_by", "acknowledged_at"])
    audit.record(user, "acknowledge", alert, f"Acknowledged alert {alert.rule} {alert.key}")
    return alert
