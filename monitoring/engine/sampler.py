"""Reads GPU (NVML) and host (psutil) gauges; NVML is injected so tests can pass a fake module."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import ModuleType
from typing import Any

log = logging.getLogger(__name__)

MB = 1024 * 1024
# The numbers one sample holds (a GPU's, then its host's), in the order the sample table and its charts list them.
GAUGES = (
    "utilization",
    "memory_used_mb",
    "memory_total_mb",
    "temperature_c",
    "power_w",
    "cpu_percent",
    "ram_used_mb",
    "ram_total_mb",
)


@dataclass
class GpuReading:
    index: int
    name: str = ""
    utilization: float | None = None
    memory_used_mb: float | None = None
    memory_total_mb: float | None = None
    temperature_c: float | None = None
    power_w: float | None = None
    error: str = ""


@dataclass
class HostReading:
    cpu_percent: float | None = None
    ram_used_mb: float | None = None
    ram_total_mb: float | None = None


@dataclass
class Snapshot:
    at: datetime
    host: HostReading
    gpus: list[GpuReading] = field(default_factory=list)
    no_gpu_reason: str = ""


@dataclass
class GpuInfo:
    index: int
    name: str
    memory_total_mb: float | None


def _load_pynvml() -> ModuleType | None:
    try:
        import pynvml  # nvidia-ml-py installs this module name
    except ImportError:
        return None
    return pynvml


def _load_psutil() -> Any:
    import psutil

    return psutil


def _text(value: Any) -> str:
    return value.decode(errors="replace") if isinstance(value, bytes) else str(value)


class GpuSampler:
    """One per process: `open()` once, `sample()` every tick, `close()` at exit.

    A host without a driver gets `no_gpu_reason` once (logged once) and keeps sampling CPU/RAM.
    """

    def __init__(self, nvml: ModuleType | bool | None = True, psutil_module: Any = None) -> None:
        # nvml=True loads the real pynvml; None/False means "no NVML on this host"; a module is used as is.
        self._nvml = _load_pynvml() if nvml is True else (nvml or None)
        self._psutil = psutil_module if psutil_module is not None else _load_psutil()
        self._nvml_ready = False
        self._opened = False
        self._reported: set[tuple[int, str]] = set()
        self.no_gpu_reason = ""
        self.driver_version = ""
        self.cuda_driver_version = ""

    def open(self) -> str:
        """Initialise NVML; return the no-GPU reason ('' when GPUs can be read)."""
        if self._opened:
            return self.no_gpu_reason
        self._opened = True
        self._psutil.cpu_percent(interval=None)  # primes the counter: the first call always answers 0.0
        if self._nvml is None:
            self.no_gpu_reason = "nvidia-ml-py is not installed"
        else:
            try:
                self._nvml.nvmlInit()
                self._nvml_ready = True
            except self._nvml.NVMLError as exc:
                self.no_gpu_reason = f"No NVIDIA driver (NVML: {_text(exc) or exc.__class__.__name__})"
        if self._nvml_ready:
            self.driver_version = self._call_text("nvmlSystemGetDriverVersion")
            cuda = self._call("nvmlSystemGetCudaDriverVersion")
            if isinstance(cuda, int) and cuda > 0:
                self.cuda_driver_version = f"{cuda // 1000}.{cuda % 1000 // 10}"
        if self.no_gpu_reason:
            log.warning("No GPU on this host: %s. Reporting CPU and RAM only.", self.no_gpu_reason)
        return self.no_gpu_reason

    def close(self) -> None:
        if self._nvml_ready:
            try:
                self._nvml.nvmlShutdown()
            except self._nvml.NVMLError:
                log.debug("nvmlShutdown failed", exc_info=True)
            self._nvml_ready = False

    def __enter__(self) -> GpuSampler:
        self.open()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- readings ---------------------------------------------------------------------------------

    def sample(self, now: datetime | None = None) -> Snapshot:
        self.open()
        at = now or datetime.now(UTC)
        return Snapshot(at=at, host=self.read_host(), gpus=self.read_gpus(), no_gpu_reason=self.no_gpu_reason)

    def read_host(self) -> HostReading:
        ps = self._psutil
        reading = HostReading()
        try:
            reading.cpu_percent = float(ps.cpu_percent(interval=None))
            vm = ps.virtual_memory()
            reading.ram_total_mb = vm.total / MB
            reading.ram_used_mb = (vm.total - vm.available) / MB
        except Exception:  # psutil failing must not stop GPU sampling
            log.exception("psutil could not read CPU/RAM")
        return reading

    def gpu_count(self) -> int:
        if not self._nvml_ready:
            return 0
        try:
            return int(self._nvml.nvmlDeviceGetCount())
        except self._nvml.NVMLError as exc:
            self._report_once(-1, f"cannot count GPUs: {_text(exc)}")
            return 0

    def read_gpus(self) -> list[GpuReading]:
        return [self.read_gpu(i) for i in range(self.gpu_count())]

    def read_gpu(self, index: int) -> GpuReading:
        nvml = self._nvml
        reading = GpuReading(index=index)
        try:
            handle = nvml.nvmlDeviceGetHandleByIndex(index)
            reading.name = _text(nvml.nvmlDeviceGetName(handle))
        except nvml.NVMLError as exc:
            reading.error = f"GPU {index} unreadable: {_text(exc)}"
            self._report_once(index, reading.error)
            return reading
        util = self._metric(index, "utilization", nvml.nvmlDeviceGetUtilizationRates, handle)
        if util is not None:
            reading.utilization = float(util.gpu)
        mem = self._metric(index, "memory", nvml.nvmlDeviceGetMemoryInfo, handle)
        if mem is not None:
            reading.memory_used_mb = mem.used / MB
            reading.memory_total_mb = mem.total / MB
        temp = self._metric(
            index, "temperature", nvml.nvmlDeviceGetTemperature, handle, nvml.NVML_TEMPERATURE_GPU
        )
        if temp is not None:
            reading.temperature_c = float(temp)
        power = self._metric(index, "power", nvml.nvmlDeviceGetPowerUsage, handle)
        if power is not None:
            reading.power_w = power / 1000.0  # NVML reports milliwatts
        return reading

    def inventory(self) -> list[GpuInfo]:
        return [GpuInfo(r.index, r.name, r.memory_total_mb) for r in self.read_gpus() if not r.error]

    # --- helpers ----------------------------------------------------------------------------------

    def _metric(self, index: int, what: str, fn: Any, *args: Any) -> Any:
        try:
            return fn(*args)
        except self._nvml.NVMLError as exc:
            # Some boards do not expose power or temperature: that gauge stays empty, the others still count.
            self._report_once(index, f"GPU {index} {what}: {_text(exc)}")
            return None

    def _call(self, name: str) -> Any:
        fn = getattr(self._nvml, name, None)
        if fn is None:
            return None
        try:
            return fn()
        except self._nvml.NVMLError:
            return None

    def _call_text(self, name: str) -> str:
        value = self._call(name)
        return _text(value) if value is not None else ""

    def _report_once(self, index: int, message: str) -> None:
        key = (index, message)
        if key not in self._reported:
            self._reported.add(key)
            log.warning("%s", message)
