"""What a worker host can run: GPUs, CUDA, bitsandbytes — detected without initialising CUDA in a worker parent."""

from __future__ import annotations

import importlib.metadata
import importlib.util
import os
import platform
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

from monitoring.engine.sampler import GpuSampler
from training.engine.packages import package_version


@dataclass
class Capabilities:
    host: str
    gpus: list[dict] = field(default_factory=list)  # [{"index", "name", "memory_total_mb"}]
    cuda: bool = False
    cuda_version: str = ""
    driver_version: str = ""
    bitsandbytes: bool = False
    bitsandbytes_version: str = ""
    torch_version: str = ""
    cpu_count: int = 0
    ram_total_mb: float | None = None
    platform: str = ""
    no_gpu_reason: str = ""

    def as_dict(self) -> dict:
        return asdict(self)


def torch_cuda_available() -> bool:
    # The monitor runs in its own process, so asking torch here never poisons a forking RQ worker with CUDA state.
    if importlib.util.find_spec("torch") is None:
        return False
    import torch

    return bool(torch.cuda.is_available())


def detect_capabilities(
    host: str,
    sampler: GpuSampler,
    *,
    cuda_probe: Callable[[], bool] = torch_cuda_available,
    version_of: Callable[[str], str] = package_version,
) -> Capabilities:
    sampler.open()
    gpus = [
        {"index": g.index, "name": g.name, "memory_total_mb": g.memory_total_mb} for g in sampler.inventory()
    ]
    host_reading = sampler.read_host()
    # CUDA is only worth asking torch about when NVML sees a GPU; otherwise skip the slow torch import.
    cuda = bool(gpus) and cuda_probe()
    bnb_version = version_of("bitsandbytes")  # package_version: the rule training.routing uses too
    return Capabilities(
        host=host,
        gpus=gpus,
        cuda=cuda,
        cuda_version=sampler.cuda_driver_version,
        driver_version=sampler.driver_version,
        bitsandbytes=bool(bnb_version),
        bitsandbytes_version=bnb_version,
        torch_version=version_of("torch"),
        cpu_count=os.cpu_count() or 0,
        ram_total_mb=host_reading.ram_total_mb,
        platform=platform.platform(terse=True),
        no_gpu_reason=sampler.no_gpu_reason or ("" if gpus else "NVML reports no GPU"),
    )
