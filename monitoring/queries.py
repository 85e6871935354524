"""Dashboard reads: summary cards, chart series, loss curves, adapter performance — a fixed number of queries each."""

from __future__ import annotations

import math
import statistics
from datetime import UTC, datetime

from django.db.models import Avg, Case, Count, F, IntegerField, Max, Q, Sum, When
from django.utils import timezone

from federation.models import InferenceRun
from monitoring.engine.ranges import FINER, RAW, bucket_start, parse_since, plan_for
from monitoring.engine.sampler import GAUGES
from monitoring.models import Alert, SystemSample, WorkerHost
from monitoring.services import retention
from monitoring.sql import EpochBucket
from rmnconsole.core.numbers import finite_or_none
from training.models import Adapter, TrainingJob, TrainingMetric


def completed_runs():
    """Finished test prompts with a measured latency (federation.InferenceRun)."""
    return InferenceRun.objects.filter(status=InferenceRun.Status.COMPLETED, latency_ms__isnull=False)


def host_gpus(host: WorkerHost) -> list[dict]:
    """Latest per-GPU readings of an online host (from its denormalised snapshot: no sample scan)."""
    return [g for g in (host.latest or {}).get("gpus", []) if not g.get("error")] if host.is_online else []


def job_counts() -> dict:
    statuses = list(TrainingJob.STATUSES)
    agg = TrainingJob.objects.aggregate(
        **{s: Count("id", filter=Q(status=s)) for s in statuses},
        tokens=Sum("tokens_per_second", filter=Q(status=TrainingJob.Status.RUNNING)),
    )
    return {"by_status": {s: agg[s] for s in statuses}, "tokens_per_second": float(agg["tokens"] or 0.0)}


def summary(queue_states_fn=None, training_workers_fn=None) -> dict:
    """Top cards: GPU utilization, memory, throughput, active jobs, queues, workers online, open alerts."""
    from rmnconsole.health import queue_states

    hosts = list(WorkerHost.objects.all())
    online = [h for h in hosts if h.is_online]
    gpus = [{**g, "host": h.host} for h in online for g in host_gpus(h)]
    utils = [g["utilization"] for g in gpus if g.get("utilization") is not None]
    mem_used = sum(g.get("memory_used_mb") or 0 for g in gpus)
    mem_total = sum(g.get("memory_total_mb") or 0 for g in gpus)
    jobs = job_counts()
    alerts = Alert.objects.active().aggregate(
        total=Count("id"),
        unacknowledged=Count("id", filter=Q(acknowledged_at__isnull=True)),
        critical=Count("id", filter=Q(severity=Alert.Severity.CRITICAL)),
    )
    states = (queue_states_fn or queue_states)()
    rq_workers = sorted({w for s in states for w in s.workers})
    return {
        "at": timezone.now(),
        "gpu_count": len(gpus),
        "gpu_utilization": sum(utils) / len(utils) if utils else None,
        "memory_used_mb": mem_used if gpus else None,
        "memory_total_mb": mem_total if gpus else None,
        "memory_percent": 100.0 * mem_used / mem_total if mem_total else None,
        "tokens_per_second": jobs["tokens_per_second"],
        "jobs": jobs["by_status"],
        "active_jobs": jobs["by_status"].get("running", 0) + jobs["by_status"].get("queued", 0),
        "queues": [
            {"name": s.name, "depth": s.depth, "workers": len(s.workers), "error": s.error} for s in states
        ],
        "workers_online": len(rq_workers),
        "hosts_online": len(online),
        "hosts": [
            {
                "host": h.host,
                "online": h.is_online,
                "last_seen": h.last_seen,
                "cuda": h.cuda,
                "bitsandbytes": h.bitsandbytes,
                "no_gpu_reason": h.no_gpu_reason,
                "cpu_percent": (h.latest or {}).get("cpu_percent"),
                "ram_used_mb": (h.latest or {}).get("ram_used_mb"),
                "ram_total_mb": (h.latest or {}).get("ram_total_mb"),
                "gpus": host_gpus(h) or [dict(g) for g in h.gpus],
            }
            for h in hosts
        ],
        "alerts": alerts,
        "training_workers": (training_workers_fn or _training_workers)(),
    }


def _training_workers() -> list[dict]:
    from training.routing import training_workers
    from training.runtime import training_redis

    try:
        return training_workers(training_redis())
    except Exception:  # Redis down: the queue cards already say so
        return []


def series(
    *,
    host: str | None = None,
    gpu: int | None = None,
    since: str | None = None,
    now: datetime | None = None,
    with_host_rows: bool = False,
) -> dict:
    """Chart series for a range, one GROUP BY query: rollup rows for the finished buckets plus finer rows for the
    bucket still in progress, averaged into about TARGET_POINTS buckets per (host, GPU)."""
    now = now or timezone.now()
    start = parse_since(since, now)
    keep = retention()
    plan = plan_for(
        (now - start).total_seconds(), {level: window.total_seconds() for level, window in keep.items()}
    )
    in_range = Q(resolution=plan.resolution, at__gte=start, at__lte=now)
    if plan.resolution != RAW:
        # The newest rollup bucket is written only once it is complete: read its finer rows meanwhile.
        tail_from = max(start, bucket_start(now, plan.resolution))
        in_range |= Q(resolution=FINER[plan.resolution], at__gte=tail_from, at__lte=now)
    qs = SystemSample.objects.filter(in_range)
    if host:
        qs = qs.filter(host=host)
    if gpu is not None:
        # The dashboard keeps CPU/RAM visible while one GPU is picked; the API returns only that GPU.
        qs = (
            qs.filter(Q(gpu_index=gpu) | Q(gpu_index__isnull=True))
            if with_host_rows
            else qs.filter(gpu_index=gpu)
        )
    rows = (
        qs.annotate(bucket=EpochBucket("at", plan.bucket_seconds))
        .values("host", "gpu_index", "bucket")
        .annotate(gpu_name=Max("gpu_name"), **{f: Avg(f) for f in GAUGES})
        .order_by("host", F("gpu_index").asc(nulls_first=True), "bucket")
    )
    out: dict[tuple, dict] = {}
    for r in rows:
        key = (r["host"], r["gpu_index"])
        s = out.get(key)
        if s is None:
            s = out[key] = {
                "host": r["host"],
                "gpu_index": r["gpu_index"],
                "kind": "host" if r["gpu_index"] is None else "gpu",
                "name": "",
                "t": [],
                **{f: [] for f in GAUGES},
            }
        s["name"] = r["gpu_name"] or s["name"]
        s["t"].append(datetime.fromtimestamp(int(r["bucket"]), tz=UTC).isoformat())
        for f in GAUGES:
            value = r[f]
            s[f].append(None if value is None else round(float(value), 2))
    for s in out.values():
        keep_fields = ("utilization", "memory_used_mb", "memory_total_mb", "temperature_c", "power_w")
        drop = ("cpu_percent", "ram_used_mb", "ram_total_mb") if s["kind"] == "gpu" else keep_fields
        for f in drop:
            s.pop(f)
    return {
        "since": start,
        "until": now,
        "resolution_seconds": plan.resolution,
        "bucket_seconds": plan.bucket_seconds,
        "series": list(out.values()),
    }


LOSS_FIELDS = ("id", "adapter_name", "status", "current_step", "total_steps")


def loss_curves(
    *, running_limit: int = 6, recent_limit: int = 4, max_points: int = 300, job_ids: list[int] | None = None
) -> list[dict]:
    """Loss curves of the chosen jobs (`job_ids`), else running jobs plus the recent runs that matter; long curves are
    averaged per step bucket.

    "Matter": among the last 25 finished runs, completed ones first, then the longest (most steps). Picking the last
    four finished jobs showed four failed one-step runs and dropped the long real run."""
    if job_ids:
        chosen = TrainingJob.objects.filter(pk__in=job_ids[:10]).order_by("-id").values(*LOSS_FIELDS)
        jobs = list(chosen)
    else:
        running = list(
            TrainingJob.objects.filter(status=TrainingJob.Status.RUNNING)
            .order_by("-started_at", "-id")
            .values(*LOSS_FIELDS)[:running_limit]
        )
        window = list(
            TrainingJob.objects.filter(status__in=TrainingJob.FINISHED, started_at__isnull=False)
            .order_by("-finished_at", "-id")
            .values(*LOSS_FIELDS)[:25]
        )
        window = [j for j in window if j["current_step"] > 1] or window
        window.sort(key=lambda j: (j["status"] != TrainingJob.Status.COMPLETED, -j["current_step"]))
        jobs = running + window[:recent_limit]
    if not jobs:
        return []
    widths = {
        j["id"]: max(1, math.ceil(max(j["current_step"], j["total_steps"], 1) / max_points)) for j in jobs
    }
    bucket = Case(
        *[When(job_id=jid, then=F("step") / w) for jid, w in widths.items()], output_field=IntegerField()
    )
    rows = (
        TrainingMetric.objects.filter(job_id__in=list(widths))
        .filter(Q(loss__isnull=False) | Q(eval_loss__isnull=False))
        .annotate(b=bucket)
        .values("job_id", "b")
        .annotate(step=Max("step"), loss=Avg("loss"), eval_loss=Avg("eval_loss"))
        .order_by("job_id", "b")
    )
    points: dict[int, dict] = {j["id"]: {"step": [], "loss": [], "eval_loss": []} for j in jobs}
    for r in rows:
        p = points[r["job_id"]]
        p["step"].append(r["step"])
        p["loss"].append(None if r["loss"] is None else round(r["loss"], 5))
        p["eval_loss"].append(None if r["eval_loss"] is None else round(r["eval_loss"], 5))
    return [
        {
            "job_id": j["id"],
            "label": f"#{j['id']} {j['adapter_name']}",
            "status": j["status"],
            **points[j["id"]],
        }
        for j in jobs
    ]


def _adapter_labels(used) -> list[str]:
    labels = []
    for item in used or []:
        if isinstance(item, str):
            labels.append(item)
        elif isinstance(item, dict):
            label = item.get("adapter") or item.get("label") or item.get("name")
            if label:
                labels.append(str(label))
    return labels


def adapter_performance(*, limit: int = 12, runs: int = 1000) -> list[dict]:
    """Eval loss / token accuracy per adapter (its metrics) and test-inference latency from recent InferenceRuns."""
    adapters = list(
        Adapter.objects.order_by("-created_at", "-id").values(
            "id", "name", "version", "adapter_type", "metrics"
        )[:limit]
    )
    latency: dict[str, list[float]] = {}
    for used, ms in completed_runs().order_by("-id").values_list("adapters_used", "latency_ms")[:runs]:
        for label in set(_adapter_labels(used)):
            latency.setdefault(label, []).append(float(ms))
    out = []
    for a in reversed(adapters):
        label = f"{a['name']} v{a['version']}"
        m = a["metrics"] or {}
        lat = latency.get(label, [])
        out.append(
            {
                "id": a["id"],
                "label": label,
                "adapter_type": a["adapter_type"],
                "eval_loss": finite_or_none(m.get("eval_loss")),
                "token_accuracy": finite_or_none(m.get("token_accuracy", m.get("eval_mean_token_accuracy"))),
                "latency_ms_p50": statistics.median(lat) if lat else None,
                "inference_runs": len(lat),
            }
        )
    return out


def eval_performance(*, limit: int = 12, runs: int = 2000) -> dict:
    """Eval-run figures per adapter: the latest completed run's score and p50 latency, and the score over versions."""
    from federation.evaluation.models import EvalRun

    latest: dict[int, dict] = {}
    rows = (
        EvalRun.objects.filter(status="completed", adapter__isnull=False)
        .order_by("-finished_at")
        .values(
            "adapter_id",
            "adapter__name",
            "adapter__version",
            "score",
            "latency_p50_ms",
            "suite__name",
            "suite__version",
        )[:runs]
    )
    for row in rows:
        latest.setdefault(row["adapter_id"], row)
    chosen = sorted(latest.values(), key=lambda r: (r["adapter__name"], r["adapter__version"]))
    by_adapter = [
        {
            "label": f"{r['adapter__name']} v{r['adapter__version']}",
            "score": finite_or_none(r["score"]),
            "latency_ms_p50": finite_or_none(r["latency_p50_ms"]),
            "suite": f"{r['suite__name']} v{r['suite__version']}",
        }
        for r in chosen[-limit:]
    ]
    versions: dict[str, list[dict]] = {}
    for r in chosen:
        versions.setdefault(r["adapter__name"], []).append(
            {"x": r["adapter__version"], "y": finite_or_none(r["score"])}
        )
    return {
        "by_adapter": by_adapter,
        "versions": [{"name": k, "points": v} for k, v in sorted(versions.items())][:limit],
    }


def suite_leaders(*, limit: int = 10) -> list[dict]:
    """Per suite with completed runs (most recently used first): how many subjects it ranks and the leader, for the
    links to each suite's leaderboard (adapters, federations and base models side by side, with the run diffs)."""
    from federation.evaluation.models import EvalRun

    rows = (
        EvalRun.objects.filter(status="completed")
        .select_related("suite", "adapter", "federation", "base_model")
        .order_by("-finished_at")[:2000]
    )
    suites: dict[int, dict] = {}
    for run in rows:
        entry = suites.setdefault(
            run.suite_id,
            {"suite_id": run.suite_id, "suite": run.suite.label, "subjects": set(), "leader": None},
        )
        key = (run.subject_kind, run.adapter_id, run.federation_id, run.federation_version, run.base_model_id)
        if key in entry["subjects"]:
            continue  # an older run of a subject already counted: the leaderboard shows its latest only
        entry["subjects"].add(key)
        if run.score is not None and (entry["leader"] is None or run.score > entry["leader"]["score"]):
            entry["leader"] = {"subject": run.subject_label, "score": run.score}
    return [{**e, "subjects": len(e["subjects"])} for e in list(suites.values())[:limit]]
