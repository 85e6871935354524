"""Per-federation numbers: model size and adapter overhead, latency percentiles, tokens, adapters activated."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

from django.db.models import Sum

from federation.engine.abstats import percentile
from federation.models import Federation, InferenceRun, JobStatus, Method

DTYPE_BYTES = {"float32": 4, "float16": 2, "bfloat16": 2, "int8": 1, "4bit": 0.5}


def base_size_bytes(federation: Federation) -> int:
    """Weights on disk when the folder is here, else parameters × bytes per parameter."""
    base = federation.base_model
    folder = Path(base.local_path) if base.local_path else None
    if folder and folder.is_dir():
        size = sum(p.stat().st_size for p in folder.glob("*.safetensors"))
        if size:
            return size
    return int(base.parameter_count * DTYPE_BYTES.get(base.dtype, 2))


def adapter_size_bytes(adapter) -> int:
    if adapter.size_bytes:
        return int(adapter.size_bytes)
    path = adapter.abs_path() / "adapter_model.safetensors"
    return path.stat().st_size if path.is_file() else 0


def human_bytes(count: float) -> str:
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if abs(count) < 1024 or unit == "TB":
            return f"{count:.0f} {unit}" if unit == "B" else f"{count:.1f} {unit}"
        count /= 1024
    return f"{count:.1f} TB"


def compact_bytes(count: float) -> str:
    """The composition stack's style: 15MB, 30KB, 1.2GB."""
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if abs(count) < 1024 or unit == "TB":
            return f"{count:.0f}{unit}" if count >= 10 or unit == "B" else f"{count:.1f}{unit}"
        count /= 1024
    return f"{count:.0f}TB"


def federation_metrics(federation: Federation) -> dict:
    members = list(federation.ordered_members())
    base_bytes = base_size_bytes(federation)
    overhead = sum(adapter_size_bytes(m.adapter) for m in members)
    runs = InferenceRun.objects.filter(federation=federation, status=JobStatus.COMPLETED)
    latencies = list(runs.values_list("latency_ms", flat=True))
    ttfts = [t for t in runs.values_list("ttft_ms", flat=True) if t is not None]
    tokens = runs.aggregate(total=Sum("generated_tokens"))["total"] or 0
    return {
        "base_bytes": base_bytes,
        "adapter_bytes": overhead,
        "total_bytes": base_bytes + overhead,
        "overhead_pct": 100.0 * overhead / base_bytes if base_bytes else None,
        "runs": len(latencies),
        "latency_p50_ms": percentile(latencies, 50),
        "latency_p95_ms": percentile(latencies, 95),
        "ttft_p50_ms": percentile(ttfts, 50),
        "tokens_generated": int(tokens),
        "adapters_activated": adapters_activated(federation, members, runs),
        "cache_hits": runs.filter(cache_hit=True).count(),
    }


def adapters_activated(federation: Federation, members, runs) -> list[dict]:
    """Weights as configured; for gated federations the mean routing share over its runs."""
    if federation.method != Method.GATED:
        return [{"adapter": m.adapter.label, "role": m.role, "weight": m.weight} for m in members]
    shares: dict[str, list[float]] = defaultdict(list)
    for used in runs.values_list("adapters_used", flat=True):
        for item in used or []:
            if "share" in item:
                shares[item["adapter"]].append(float(item["share"]))
    return [
        {
            "adapter": m.adapter.label,
            "role": m.role,
            "share": (sum(shares[m.adapter.label]) / len(shares[m.adapter.label]))
            if shares[m.adapter.label]
            else None,
        }
        for m in members
    ]
