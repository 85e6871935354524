"""Route training jobs to workers that can run them, with RQ queues named by capability.

A worker listens on every queue whose requirement it meets (`training` for jobs any worker can run,
`training.g{gpus}.m{GiB}` for GPU jobs, and the same with `.bnb` for 4/8-bit GPU jobs, which need bitsandbytes'
CUDA kernels); a job goes to exactly one queue, so only a capable worker picks it up.
Who is online comes from RQ's own worker registry, so there is no second bookkeeping to drift.
"""

from __future__ import annotations

import os
import re
import socket
from dataclasses import asdict, dataclass, field

from rmnconsole.core.queues import TRAINING
from training.engine.packages import bitsandbytes_version

GIB = 1024**3
GPU_COUNTS = (1, 2, 4, 8)
MEMORY_BUCKETS_GIB = (0, 8, 16, 24, 40, 48, 80, 141)
_GPU_QUEUE = re.compile(r"^training\.g(\d+)\.m(\d+)(\.bnb)?$")
BNB = ".bnb"


@dataclass(frozen=True)
class Requirements:
    gpus: int = 0
    min_gpu_memory_gib: float = 0.0
    bitsandbytes: bool = False  # 4/8-bit weights on a GPU

    def describe(self) -> str:
        if not self.gpus:
            return "any worker"
        memory = f" with ≥ {bucket_for(self.min_gpu_memory_gib)} GiB each" if self.min_gpu_memory_gib else ""
        bnb = " and bitsandbytes" if self.bitsandbytes else ""
        return f"a worker with {self.gpus} GPU{'s' if self.gpus > 1 else ''}{memory}{bnb}"


@dataclass
class Capabilities:
    host: str
    gpu_count: int = 0
    gpu_names: list[str] = field(default_factory=list)
    gpu_memory_gib: float = 0.0  # of the smallest GPU
    cuda: bool = False
    bitsandbytes: bool = False
    no_gpu_reason: str = ""

    def as_dict(self) -> dict:
        return asdict(self)


def bucket_for(gib: float) -> int:
    """The smallest memory bucket that holds `gib`; jobs beyond the largest card get the largest bucket."""
    for bucket in MEMORY_BUCKETS_GIB:
        if gib <= bucket:
            return bucket
    return MEMORY_BUCKETS_GIB[-1]


def queue_for(req: Requirements) -> str:
    if req.gpus <= 0:
        return TRAINING
    gpus = next((g for g in GPU_COUNTS if g >= req.gpus), req.gpus)
    return f"{TRAINING}.g{gpus}.m{bucket_for(req.min_gpu_memory_gib)}{BNB if req.bitsandbytes else ''}"


def queues_for(cap: Capabilities) -> list[str]:
    """Every training queue a worker with these capabilities can serve, most demanding first."""
    names = []
    if cap.cuda and cap.gpu_count:
        for gpus in sorted((g for g in GPU_COUNTS if g <= cap.gpu_count), reverse=True):
            for bucket in sorted((b for b in MEMORY_BUCKETS_GIB if b <= cap.gpu_memory_gib), reverse=True):
                if cap.bitsandbytes:
                    names.append(f"{TRAINING}.g{gpus}.m{bucket}{BNB}")
                names.append(f"{TRAINING}.g{gpus}.m{bucket}")
    names.append(TRAINING)
    return names


def parse_queue(name: str) -> Requirements | None:
    match = _GPU_QUEUE.match(name)
    if match:
        return Requirements(
            gpus=int(match.group(1)),
            min_gpu_memory_gib=float(match.group(2)),
            bitsandbytes=bool(match.group(3)),
        )
    return Requirements() if name == TRAINING else None


def detect_capabilities(nvml=None) -> Capabilities:
    """What this host offers, read through NVML so a forking worker's parent never initialises CUDA."""
    cap = Capabilities(host=socket.gethostname())
    cap.bitsandbytes = bool(bitsandbytes_version())  # the same answer the monitoring dashboard shows
    if nvml is None:
        import pynvml as nvml
    try:
        nvml.nvmlInit()
    except nvml.NVMLError as exc:
        cap.no_gpu_reason = f"no NVIDIA driver: {exc}"
        return cap
    try:
        memories = []
        for index in range(nvml.nvmlDeviceGetCount()):
            handle = nvml.nvmlDeviceGetHandleByIndex(index)
            if not _visible(index, handle, nvml):
                continue
            name = nvml.nvmlDeviceGetName(handle)
            cap.gpu_names.append(name.decode() if isinstance(name, bytes) else name)
            memories.append(nvml.nvmlDeviceGetMemoryInfo(handle).total / GIB)
        cap.gpu_count = len(memories)
        cap.gpu_memory_gib = round(min(memories), 1) if memories else 0.0
        cap.cuda = bool(memories)
        if not memories:
            cap.no_gpu_reason = "no GPU visible to this worker (CUDA_VISIBLE_DEVICES)"
    finally:
        nvml.nvmlShutdown()
    return cap


def _visible(index: int, handle, nvml) -> bool:
    """NVML sees every GPU of the host; CUDA (and so the job) only those in CUDA_VISIBLE_DEVICES (index or UUID)."""
    allowed = os.environ.get("CUDA_VISIBLE_DEVICES")
    if allowed is None:
        return True
    entries = [e.strip() for e in allowed.split(",") if e.strip()]
    if str(index) in entries:
        return True
    uuids = [e for e in entries if e.startswith(("GPU-", "MIG-"))]
    if not uuids:
        return False
    uuid = nvml.nvmlDeviceGetUUID(handle)
    uuid = uuid.decode() if isinstance(uuid, bytes) else uuid
    return any(uuid.startswith(e) for e in uuids)


def online_queues(connection) -> dict[str, list[str]]:
    """Queue name → names of the live workers listening on it, from RQ's worker registry."""
    from rq import Worker

    listening: dict[str, list[str]] = {}
    for worker in Worker.all(connection=connection):
        for name in worker.queue_names():
            listening.setdefault(name, []).append(worker.name)
    return listening


def waiting_reason(queue_name: str, connection) -> str:
    """Why a queued job is not running yet, in words; empty when a worker serves its queue."""
    if online_queues(connection).get(queue_name):
        return ""
    req = parse_queue(queue_name) or Requirements()
    return (
        f"waiting: no {req.describe().removeprefix('a ')} online"
        if req.gpus
        else "waiting: no training worker online"
    )


def training_workers(connection) -> list[dict]:
    """Online training workers: what each serves (read back from its queues) and the job it runs now."""
    from rq import Worker

    rows = []
    for worker in Worker.all(connection=connection):
        names = worker.queue_names()
        if TRAINING not in names:
            continue
        needs = [r for r in map(parse_queue, names) if r and r.gpus]
        gpus, gib = max(((r.gpus, int(r.min_gpu_memory_gib)) for r in needs), default=(0, 0))
        serves = (
            f"up to {gpus} GPU{'s' if gpus > 1 else ''}, jobs ≤ {gib} GiB per GPU"
            if gpus
            else "CPU jobs only"
        )
        if any(r.bitsandbytes for r in needs):
            serves += ", 4/8-bit (bitsandbytes)"
        job_id = worker.get_current_job_id() or ""
        state = worker.get_state()
        job = int(job_id.rsplit("-", 1)[1]) if job_id.startswith("training-job-") else None
        rows.append({
            "name": worker.name,
            "host": worker.hostname or "",
            "state": str(getattr(state, "value", state)).strip("?"),
            "serves": serves,
            "job_id": job,
            "rq_job_id": job_id,
        })  # fmt: skip
    return sorted(rows, key=lambda row: row["name"])


def largest_online_gpu(connection) -> tuple[int, int]:
    """(GPUs, GiB per GPU) of the most capable online worker, from the queues the workers listen on."""
    best = (0, 0)
    for name in online_queues(connection):
        req = parse_queue(name)
        if req and req.gpus:
            best = max(best, (req.gpus, int(req.min_gpu_memory_gib)))
    return best


def all_queue_names() -> list[str]:
    """Every capability queue name (used to register them with django-rq)."""
    return [TRAINING] + [
        f"{TRAINING}.g{g}.m{m}{bnb}" for g in GPU_COUNTS for m in MEMORY_BUCKETS_GIB for bnb in ("", BNB)
    ]


def register_queues() -> None:
    """Give django-rq a config for each capability queue (same Redis and timeout as `training`)."""
    from django_rq.settings import QUEUES

    for name in all_queue_names():
        QUEUES.setdefault(name, dict(QUEUES[TRAINING]))
