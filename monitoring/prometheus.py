"""Prometheus exposition: a custom collector that reads the database on each scrape (no process-global counters,
so every web worker answers the same numbers)."""

from __future__ import annotations

from collections.abc import Iterator

from django.db.models import Count, Q, Sum
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector, CollectorRegistry

from monitoring.models import Alert, WorkerHost
from monitoring.queries import completed_runs, host_gpus, job_counts

MB = 1024 * 1024
LATENCY_BUCKETS_S = (0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0)


class ConsoleCollector(Collector):
    def __init__(self, queue_states_fn=None) -> None:
        self._queue_states_fn = queue_states_fn

    def collect(self) -> Iterator[Metric]:
        yield from self._hosts()
        yield from self._jobs()
        yield from self._queues()
        yield from self._latency()
        yield from self._alerts()
        yield from self._serving()

    def _hosts(self) -> Iterator[Metric]:
        labels = ["host", "gpu", "name"]
        util = GaugeMetricFamily(
            "rmn_gpu_utilization_percent", "GPU utilization (NVML), percent", labels=labels
        )
        used = GaugeMetricFamily("rmn_gpu_memory_used_bytes", "GPU memory in use", labels=labels)
        total = GaugeMetricFamily("rmn_gpu_memory_total_bytes", "GPU memory size", labels=labels)
        temp = GaugeMetricFamily("rmn_gpu_temperature_celsius", "GPU temperature", labels=labels)
        power = GaugeMetricFamily("rmn_gpu_power_watts", "GPU power draw", labels=labels)
        up = GaugeMetricFamily(
            "rmn_worker_host_up", "1 when the host's monitor sampled recently", labels=["host"]
        )
        cpu = GaugeMetricFamily("rmn_host_cpu_percent", "Host CPU utilization, percent", labels=["host"])
        ram = GaugeMetricFamily("rmn_host_memory_used_bytes", "Host RAM in use", labels=["host"])
        ram_total = GaugeMetricFamily("rmn_host_memory_total_bytes", "Host RAM size", labels=["host"])
        for h in WorkerHost.objects.all():
            up.add_metric([h.host], 1.0 if h.is_online else 0.0)
            if not h.is_online:
                continue
            latest = h.latest or {}
            for gauge, field, scale in (
                (cpu, "cpu_percent", 1),
                (ram, "ram_used_mb", MB),
                (ram_total, "ram_total_mb", MB),
            ):
                if latest.get(field) is not None:
                    gauge.add_metric([h.host], latest[field] * scale)
            for g in host_gpus(h):
                lv = [h.host, str(g["index"]), g.get("name") or ""]
                for gauge, field, scale in (
                    (util, "utilization", 1),
                    (used, "memory_used_mb", MB),
                    (total, "memory_total_mb", MB),
                    (temp, "temperature_c", 1),
                    (power, "power_w", 1),
                ):
                    if g.get(field) is not None:
                        gauge.add_metric(lv, g[field] * scale)
        yield from (util, used, total, temp, power, up, cpu, ram, ram_total)

    def _jobs(self) -> Iterator[Metric]:
        counts = job_counts()
        jobs = GaugeMetricFamily("rmn_training_jobs", "Training jobs by status", labels=["status"])
        for status, n in counts["by_status"].items():
            jobs.add_metric([status], n)
        yield jobs
        yield GaugeMetricFamily(
            "rmn_training_tokens_per_second",
            "Training throughput summed over running jobs",
            value=counts["tokens_per_second"],
        )

    def _queues(self) -> Iterator[Metric]:
        from rmnconsole.health import queue_states

        depth = GaugeMetricFamily("rmn_queue_depth", "Jobs waiting in an RQ queue", labels=["queue"])
        workers = GaugeMetricFamily("rmn_queue_workers", "RQ workers listening on a queue", labels=["queue"])
        redis_up = GaugeMetricFamily("rmn_redis_up", "1 when Redis answered this scrape")
        states = (self._queue_states_fn or queue_states)()
        for s in states:
            if s.error:
                continue
            depth.add_metric([s.name], s.depth)
            workers.add_metric([s.name], len(s.workers))
        redis_up.add_metric([], 0.0 if any(s.error for s in states) else 1.0)
        yield from (depth, workers, redis_up)

    def _latency(self) -> Iterator[Metric]:
        agg = completed_runs().aggregate(
            total=Count("id"),
            sum_ms=Sum("latency_ms"),
            **{
                f"le_{i}": Count("id", filter=Q(latency_ms__lte=le * 1000))
                for i, le in enumerate(LATENCY_BUCKETS_S)
            },
        )
        buckets = [(_le(le), agg[f"le_{i}"]) for i, le in enumerate(LATENCY_BUCKETS_S)]
        buckets.append(("+Inf", agg["total"]))
        yield HistogramMetricFamily(
            "rmn_inference_latency_seconds",
            "Test-inference latency of federations",
            buckets=buckets,
            sum_value=(agg["sum_ms"] or 0.0) / 1000.0,
        )

    def _alerts(self) -> Iterator[Metric]:
        firing = GaugeMetricFamily(
            "rmn_alerts_firing", "Open alerts by rule and severity", labels=["rule", "severity"]
        )
        counts = {
            (r["rule"], r["severity"]): r["n"]
            for r in Alert.objects.active().values("rule", "severity").annotate(n=Count("id"))
        }
        for rule in Alert.Rule.values:
            for severity in Alert.Severity.values:
                firing.add_metric([rule, severity], counts.get((rule, severity), 0))
        yield firing

    def _serving(self) -> Iterator[Metric]:
        """/v1 per deployment and target: requests, errors, tokens, summed latency (counters kept in Redis)."""
        from federation.serving.broker import live_workers
        from federation.serving.stats import snapshot

        labels = ["deployment", "target"]
        families = {
            "requests": CounterMetricFamily("rmn_serving_requests", "/v1 requests answered", labels=labels),
            "errors": CounterMetricFamily("rmn_serving_errors", "/v1 requests that failed", labels=labels),
            "cancelled": CounterMetricFamily(
                "rmn_serving_cancelled",
                "/v1 requests whose caller hung up (generation stopped)",
                labels=labels,
            ),
            "prompt_tokens": CounterMetricFamily(
                "rmn_serving_prompt_tokens", "Prompt tokens served", labels=labels
            ),
            "completion_tokens": CounterMetricFamily(
                "rmn_serving_completion_tokens", "Completion tokens generated", labels=labels
            ),
        }
        latency = CounterMetricFamily(
            "rmn_serving_latency_seconds", "Summed end-to-end latency of answered requests", labels=labels
        )
        workers = GaugeMetricFamily("rmn_serving_workers", "Live serving workers (manage.py serve_models)")
        try:
            rows, alive = snapshot(), len(live_workers())
        except Exception:  # Redis down: rmn_redis_up already says so
            rows, alive = [], 0
        for row in rows:
            key = [row["deployment"], row["target"]]
            for metric, family in families.items():
                family.add_metric(key, row[metric])
            latency.add_metric(key, row["latency_ms_sum"] / 1000.0)
        workers.add_metric([], alive)
        yield from (*families.values(), latency, workers)


def _le(value: float) -> str:
    return repr(float(value))


def build_registry(queue_states_fn=None) -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(ConsoleCollector(queue_states_fn))
    return registry
