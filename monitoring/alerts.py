"""Alert rules (thresholds from settings) and their evaluation: open, refresh or resolve one Alert per condition."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Avg, Count, Min
from django.utils import timezone

from monitoring import live as monitoring_live
from monitoring.engine.plateau import detect_plateau
from monitoring.engine.ranges import RAW
from monitoring.models import Alert, SystemSample
from training.models import TrainingJob, TrainingMetric

Rule = Alert.Rule
Severity = Alert.Severity


@dataclass(frozen=True)
class Firing:
    rule: str
    key: str
    severity: str
    message: str
    value: float | None = None
    threshold: float | None = None


@dataclass
class Thresholds:
    gpu_utilization: float = 95.0
    memory_percent: float = 90.0
    plateau_steps: int = 20
    plateau_tolerance: float = 0.01
    heartbeat_stale_seconds: float = 90.0
    window_seconds: float = 60.0
    cpu_percent: float = 95.0
    cpu_window_seconds: float = 600.0

    @classmethod
    def from_settings(cls) -> Thresholds:
        return cls(
            gpu_utilization=float(settings.RMN_ALERT_GPU_UTIL_PERCENT),
            memory_percent=float(settings.RMN_ALERT_MEMORY_PERCENT),
            plateau_steps=int(settings.RMN_ALERT_PLATEAU_STEPS),
            plateau_tolerance=float(settings.RMN_ALERT_PLATEAU_TOLERANCE),
            heartbeat_stale_seconds=float(settings.RMN_HEARTBEAT_STALE_SECONDS),
            # Averages over a short window, so a one-sample spike does not page anyone.
            window_seconds=float(settings.RMN_ALERT_WINDOW_SECONDS),
            cpu_percent=float(getattr(settings, "RMN_ALERT_CPU_PERCENT", 95.0)),
            cpu_window_seconds=float(getattr(settings, "RMN_ALERT_CPU_WINDOW_SECONDS", 600.0)),
        )


@dataclass
class Evaluation:
    opened: list[Alert] = field(default_factory=list)
    refreshed: list[Alert] = field(default_factory=list)
    resolved: list[Alert] = field(default_factory=list)
    skipped_rules: list[str] = field(default_factory=list)


def resource_firings(now: datetime, t: Thresholds) -> list[Firing]:
    """GPU utilization and memory (VRAM per GPU, RAM per host), averaged over the last window of raw samples."""
    rows = (
        SystemSample.objects.filter(
            resolution=RAW, at__gte=now - timedelta(seconds=t.window_seconds), at__lte=now
        )
        .values("host", "gpu_index")
        .annotate(
            util=Avg("utilization"),
            mem_used=Avg("memory_used_mb"),
            mem_total=Avg("memory_total_mb"),
            ram_used=Avg("ram_used_mb"),
            ram_total=Avg("ram_total_mb"),
        )
        .order_by("host", "gpu_index")
    )
    firings = []
    for r in rows:
        host, gpu = r["host"], r["gpu_index"]
        if gpu is None:
            used, total, what, key = r["ram_used"], r["ram_total"], "RAM", f"{host}/ram"
        else:
            used, total, what, key = r["mem_used"], r["mem_total"], f"GPU {gpu} memory", f"{host}/gpu{gpu}"
            util = r["util"]
            if util is not None and util > t.gpu_utilization:
                firings.append(
                    Firing(
                        Rule.GPU_UTILIZATION,
                        key,
                        Severity.WARNING,
                        f"{host} GPU {gpu} utilization {util:.0f}% > {t.gpu_utilization:g}%",
                        util,
                        t.gpu_utilization,
                    )
                )
        if used is not None and total:
            pct = 100.0 * used / total
            if pct > t.memory_percent:
                severity = Severity.CRITICAL if pct > 98 else Severity.WARNING
                firings.append(
                    Firing(
                        Rule.MEMORY,
                        key,
                        severity,
                        f"{host} {what} {pct:.0f}% used ({used / 1024:.1f} of {total / 1024:.1f} GiB) > {t.memory_percent:g}%",
                        pct,
                        t.memory_percent,
                    )
                )
    return firings


def cpu_firings(now: datetime, t: Thresholds) -> list[Firing]:
    """A host whose CPU averaged above the threshold over a long window (10 min by default) that samples cover.

    A long window on purpose: a busy minute is normal, a saturated quarter of an hour starves workers and the web
    server alike (it once sat at 98–100% for 20 minutes with no alert)."""
    since = now - timedelta(seconds=t.cpu_window_seconds)
    rows = (
        SystemSample.objects.filter(resolution=RAW, gpu_index__isnull=True, at__gte=since, at__lte=now)
        .exclude(cpu_percent=None)
        .values("host")
        .annotate(cpu=Avg("cpu_percent"), first=Min("at"), samples=Count("id"))
        .order_by("host")
    )
    firings = []
    for r in rows:
        covered = (now - r["first"]).total_seconds() >= 0.8 * t.cpu_window_seconds
        if covered and r["samples"] >= 3 and r["cpu"] > t.cpu_percent:
            minutes = t.cpu_window_seconds / 60
            firings.append(
                Firing(
                    Rule.CPU_SATURATION,
                    f"{r['host']}/cpu",
                    Severity.WARNING,
                    f"{r['host']} CPU averaged {r['cpu']:.0f}% over {minutes:g} min > {t.cpu_percent:g}%",
                    r["cpu"],
                    t.cpu_percent,
                )
            )
    return firings


def job_firings(now: datetime, t: Thresholds) -> list[Firing]:
    """Stale heartbeat and loss plateau, for running training jobs only."""
    firings = []
    stale_before = now - timedelta(seconds=t.heartbeat_stale_seconds)
    running = TrainingJob.objects.filter(status=TrainingJob.Status.RUNNING).only(
        "id", "adapter_name", "heartbeat_at", "started_at", "worker"
    )
    for job in running:
        key, label = f"job:{job.pk}", f"Training job #{job.pk} ({job.adapter_name})"
        beat = job.heartbeat_at or job.started_at
        if beat is not None and beat < stale_before:
            age = (now - beat).total_seconds()
            where = f" on {job.worker_host}" if job.worker_host else ""
            firings.append(
                Firing(
                    Rule.STALE_HEARTBEAT,
                    key,
                    Severity.CRITICAL,
                    f"{label}{where}: no heartbeat for {age:.0f} s (limit {t.heartbeat_stale_seconds:g} s)",
                    age,
                    t.heartbeat_stale_seconds,
                )
            )
        # Two small queries per running job: the last N losses, and the best loss logged before them.
        logged = TrainingMetric.objects.filter(job_id=job.pk, loss__isnull=False)
        recent = list(logged.order_by("-step", "-id").values_list("step", "loss")[: t.plateau_steps])
        if len(recent) < t.plateau_steps:
            continue
        first_step = recent[-1][0]
        best_before = logged.filter(step__lt=first_step).aggregate(m=Min("loss"))["m"]
        if best_before is None:
            continue
        result = detect_plateau(
            [best_before] + [loss for _, loss in reversed(recent)], t.plateau_steps, t.plateau_tolerance
        )
        if result.plateaued:
            firings.append(
                Firing(
                    Rule.LOSS_PLATEAU,
                    key,
                    Severity.INFO,
                    f"{label}: loss plateau — {result.describe()}, tolerance {t.plateau_tolerance:.1%}",
                    result.improvement,
                    t.plateau_tolerance,
                )
            )
    return firings


def queue_firings(states: Sequence) -> tuple[list[Firing], bool]:
    """A queue nobody listens to. Returns (firings, evaluated) — not evaluated when Redis cannot be read."""
    if any(s.error for s in states):
        return [], False
    firings = []
    for s in states:
        if not s.workers:
            waiting = f"{s.depth} job(s) waiting" if s.depth else "nothing waiting yet"
            severity = Severity.CRITICAL if s.depth else Severity.WARNING
            firings.append(
                Firing(
                    Rule.QUEUE_NO_WORKER,
                    f"queue:{s.name}",
                    severity,
                    f"Queue '{s.name}' has no worker listening ({waiting})",
                    float(s.depth),
                    0.0,
                )
            )
    return firings, True


def _default_queue_states():
    from rmnconsole.health import queue_states

    return queue_states()


def evaluate_alerts(
    now: datetime | None = None,
    *,
    thresholds: Thresholds | None = None,
    queue_states: Callable[[], Sequence] = _default_queue_states,
) -> Evaluation:
    """Run every rule once and sync the Alert table: open new conditions, refresh ongoing ones, resolve cleared ones."""
    now = now or timezone.now()
    t = thresholds or Thresholds.from_settings()
    result = Evaluation()
    firings = resource_firings(now, t) + cpu_firings(now, t) + job_firings(now, t)
    evaluated = {
        Rule.GPU_UTILIZATION,
        Rule.MEMORY,
        Rule.STALE_HEARTBEAT,
        Rule.LOSS_PLATEAU,
        Rule.CPU_SATURATION,
    }
    queue_list, queues_ok = queue_firings(queue_states())
    if queues_ok:
        firings += queue_list
        evaluated.add(Rule.QUEUE_NO_WORKER)
    else:
        result.skipped_rules.append(Rule.QUEUE_NO_WORKER)

    open_alerts = {(a.rule, a.key): a for a in Alert.objects.active().filter(rule__in=evaluated)}
    seen = set()
    for f in firings:
        seen.add((f.rule, f.key))
        alert = open_alerts.get((f.rule, f.key))
        if alert is None:
            alert, created = _open(f, now)
            (result.opened if created else result.refreshed).append(alert)
        else:
            _refresh(alert, f, now)
            result.refreshed.append(alert)
    for ident, alert in open_alerts.items():
        if ident not in seen:
            Alert.objects.filter(pk=alert.pk, resolved_at__isnull=True).update(resolved_at=now, last_seen=now)
            alert.resolved_at = now
            result.resolved.append(alert)
    monitoring_live.alerts_changed(result.opened, result.resolved)
    return result


def _open(f: Firing, now: datetime) -> tuple[Alert, bool]:
    try:
        with transaction.atomic():
            alert = Alert.objects.create(
                rule=f.rule,
                key=f.key,
                severity=f.severity,
                message=f.message[:500],
                value=f.value,
                threshold=f.threshold,
                first_seen=now,
                last_seen=now,
            )
        return alert, True
    except IntegrityError:
        # Another monitor opened it a moment ago (the partial unique index): refresh theirs instead of duplicating.
        alert = Alert.objects.active().get(rule=f.rule, key=f.key)
        _refresh(alert, f, now)
        return alert, False


def _refresh(alert: Alert, f: Firing, now: datetime) -> None:
    alert.severity, alert.message, alert.value, alert.threshold = (
        f.severity,
        f.message[:500],
        f.value,
        f.threshold,
    )
    alert.last_seen = max(alert.last_seen, now)
    alert.save(update_fields=["severity", "message", "value", "threshold", "last_seen"])
