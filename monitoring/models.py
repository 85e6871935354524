"""Monitoring models: GPU/host time series, worker-host capabilities and alerts."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone


def host_offline_seconds() -> float:
    """A host is offline when it has not sampled for RMN_HOST_OFFLINE_SECONDS (default: three intervals, ≥ 30 s)."""
    return float(settings.RMN_HOST_OFFLINE_SECONDS)


class SystemSample(models.Model):
    """One reading of one GPU (gpu_index set) or of a host's CPU/RAM (gpu_index null).

    resolution 0 = raw sample; 60 / 300 / 3600 = average of the next finer rows in that minute / 5 minutes / hour,
    stamped with the bucket start. Old rows are rolled up then deleted, so the dashboard stays fast after weeks.
    """

    class Resolution(models.IntegerChoices):
        RAW = 0, "raw"
        MINUTE = 60, "1 minute"
        FIVE_MINUTES = 300, "5 minutes"
        HOUR = 3600, "1 hour"

    host = models.CharField(max_length=200)
    gpu_index = models.SmallIntegerField(null=True, blank=True, help_text="Empty for the host's CPU/RAM row.")
    resolution = models.PositiveIntegerField(choices=Resolution.choices, default=Resolution.RAW)
    at = models.DateTimeField()
    gpu_name = models.CharField(max_length=200, blank=True)
    utilization = models.FloatField(null=True, blank=True, help_text="GPU utilization %")
    memory_used_mb = models.FloatField(null=True, blank=True)
    memory_total_mb = models.FloatField(null=True, blank=True)
    temperature_c = models.FloatField(null=True, blank=True)
    power_w = models.FloatField(null=True, blank=True)
    cpu_percent = models.FloatField(null=True, blank=True)
    ram_used_mb = models.FloatField(null=True, blank=True)
    ram_total_mb = models.FloatField(null=True, blank=True)
    error = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["at"]
        indexes = [
            # Chart reads: one series (host, gpu) at one resolution over a time range.
            models.Index(fields=["resolution", "host", "gpu_index", "at"], name="mon_sample_series"),
            # Range reads across all series, rollups and retention deletes.
            models.Index(fields=["resolution", "at"], name="mon_sample_res_at"),
        ]

    def __str__(self) -> str:
        where = "host" if self.gpu_index is None else f"gpu{self.gpu_index}"
        return f"{self.host}/{where} @ {self.at:%Y-%m-%d %H:%M:%S} ({self.get_resolution_display()})"

    @property
    def memory_percent(self) -> float | None:
        if self.memory_used_mb is None or not self.memory_total_mb:
            return None
        return 100.0 * self.memory_used_mb / self.memory_total_mb


class WorkerHostQuerySet(models.QuerySet):
    def online(self):
        return self.filter(last_seen__gte=timezone.now() - timedelta(seconds=host_offline_seconds()))


class WorkerHost(models.Model):
    """A machine running `manage.py monitor_host`: its capabilities and its latest readings."""

    host = models.CharField(max_length=200, unique=True)
    gpus = models.JSONField(default=list, blank=True, help_text='[{"index", "name", "memory_total_mb"}]')
    gpu_count = models.PositiveSmallIntegerField(default=0)
    cuda = models.BooleanField(default=False)
    cuda_version = models.CharField(max_length=20, blank=True)
    driver_version = models.CharField(max_length=40, blank=True)
    bitsandbytes = models.BooleanField(default=False)
    bitsandbytes_version = models.CharField(max_length=40, blank=True)
    torch_version = models.CharField(max_length=40, blank=True)
    cpu_count = models.PositiveIntegerField(default=0)
    ram_total_mb = models.FloatField(null=True, blank=True)
    platform = models.CharField(max_length=200, blank=True)
    no_gpu_reason = models.CharField(max_length=300, blank=True)
    latest = models.JSONField(
        default=dict, blank=True, help_text="Latest snapshot, so the summary reads one row per host."
    )
    first_seen = models.DateTimeField(default=timezone.now)
    last_seen = models.DateTimeField(default=timezone.now, db_index=True)
    pid = models.PositiveIntegerField(null=True, blank=True)
    stopped_at = models.DateTimeField(null=True, blank=True)

    objects = WorkerHostQuerySet.as_manager()

    class Meta:
        ordering = ["host"]

    def __str__(self) -> str:
        return self.host

    @property
    def is_online(self) -> bool:
        if self.stopped_at and self.stopped_at >= self.last_seen:
            return False
        return self.last_seen >= timezone.now() - timedelta(seconds=host_offline_seconds())

    @property
    def gpu_summary(self) -> str:
        if not self.gpus:
            return self.no_gpu_reason or "no GPU"
        return ", ".join(
            f"{g.get('name') or 'GPU'} ({(g.get('memory_total_mb') or 0) / 1024:.0f} GiB)" for g in self.gpus
        )


class AlertQuerySet(models.QuerySet):
    def active(self):
        return self.filter(resolved_at__isnull=True)

    def unacknowledged(self):
        return self.active().filter(acknowledged_at__isnull=True)


class Alert(models.Model):
    """A rule firing for one key (a GPU, a job, a queue). One open row per (rule, key) while the condition lasts."""

    class Rule(models.TextChoices):
        GPU_UTILIZATION = "gpu_utilization", "GPU utilization"
        MEMORY = "memory", "Memory"
        LOSS_PLATEAU = "loss_plateau", "Loss plateau"
        STALE_HEARTBEAT = "stale_heartbeat", "Stale heartbeat"
        QUEUE_NO_WORKER = "queue_no_worker", "Queue without worker"
        CPU_SATURATION = "cpu_saturation", "CPU saturation"

    class Severity(models.TextChoices):
        INFO = "info", "info"
        WARNING = "warning", "warning"
        CRITICAL = "critical", "critical"

    rule = models.CharField(max_length=40, choices=Rule.choices)
    key = models.CharField(
        max_length=200, help_text="What the rule fired for: host/gpu0, job:12, queue:training."
    )
    severity = models.CharField(max_length=10, choices=Severity.choices, default=Severity.WARNING)
    message = models.CharField(max_length=500)
    value = models.FloatField(null=True, blank=True)
    threshold = models.FloatField(null=True, blank=True)
    first_seen = models.DateTimeField(default=timezone.now)
    last_seen = models.DateTimeField(default=timezone.now)
    resolved_at = models.DateTimeField(null=True, blank=True, db_index=True)
    acknowledged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    acknowledged_at = models.DateTimeField(null=True, blank=True)

    objects = AlertQuerySet.as_manager()

    class Meta:
        ordering = ["-first_seen"]
        constraints = [
            # The database itself refuses a second open alert for the same condition, even from two monitors at once.
            models.UniqueConstraint(
                fields=["rule", "key"],
                condition=Q(resolved_at__isnull=True),
                name="mon_alert_one_open_per_key",
            )
        ]

    def __str__(self) -> str:
        return f"[{self.severity}] {self.rule} {self.key}"

    @property
    def is_active(self) -> bool:
        return self.resolved_at is None

    @property
    def banner_kind(self) -> str:
        return {"critical": "error", "warning": "warning"}.get(self.severity, "info")
