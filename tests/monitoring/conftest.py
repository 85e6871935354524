"""Monitoring test fixtures: a fake NVML module (the pynvml surface the sampler uses) and a fake psutil, injected at the sampler's boundary."""

from __future__ import annotations

from dataclasses import dataclass, field
from types import SimpleNamespace

import pytest

MB = 1024 * 1024


class NVMLError(Exception):
    def __init__(self, value: int = 999, text: str = "Unknown Error"):
        super().__init__(text)
        self.value = value
        self.text = text

    def __str__(self) -> str:
        return self.text


class NVMLError_NotSupported(NVMLError):
    def __init__(self):
        super().__init__(3, "Not Supported")


class NVMLError_LibraryNotFound(NVMLError):
    def __init__(self):
        super().__init__(12, "NVML Shared Library Not Found")


class NVMLError_GpuIsLost(NVMLError):
    def __init__(self):
        super().__init__(15, "GPU is lost")


@dataclass
class FakeGpu:
    name: str = "NVIDIA H100 80GB HBM3"
    util: int = 42
    used_mb: float = 20_000
    total_mb: float = 81_559
    temp: int = 55
    power_mw: int = 250_000
    errors: dict = field(default_factory=dict)  # metric name -> exception class raised when read


class FakeNVML:
    """Module-like object: same function names and error classes as pynvml."""

    NVML_TEMPERATURE_GPU = 0
    NVMLError = NVMLError
    NVMLError_NotSupported = NVMLError_NotSupported
    NVMLError_LibraryNotFound = NVMLError_LibraryNotFound
    NVMLError_GpuIsLost = NVMLError_GpuIsLost

    def __init__(self, gpus: list[FakeGpu] | None = None, init_error: type[NVMLError] | None = None):
        self.gpus = gpus if gpus is not None else [FakeGpu()]
        self.init_error = init_error
        self.init_calls = 0
        self.shutdown_calls = 0

    def nvmlInit(self):
        self.init_calls += 1
        if self.init_error:
            raise self.init_error()

    def nvmlShutdown(self):
        self.shutdown_calls += 1

    def nvmlSystemGetDriverVersion(self):
        return b"550.54.15"

    def nvmlSystemGetCudaDriverVersion(self):
        return 12040

    def nvmlDeviceGetCount(self):
        return len(self.gpus)

    def nvmlDeviceGetHandleByIndex(self, index):
        gpu = self.gpus[index]
        if "handle" in gpu.errors:
            raise gpu.errors["handle"]()
        return gpu

    def _check(self, gpu, what):
        if what in gpu.errors:
            raise gpu.errors[what]()

    def nvmlDeviceGetName(self, handle):
        self._check(handle, "name")
        return handle.name

    def nvmlDeviceGetUtilizationRates(self, handle):
        self._check(handle, "utilization")
        return SimpleNamespace(gpu=handle.util, memory=10)

    def nvmlDeviceGetMemoryInfo(self, handle):
        self._check(handle, "memory")
        return SimpleNamespace(used=int(handle.used_mb * MB), total=int(handle.total_mb * MB), free=0)

    def nvmlDeviceGetTemperature(self, handle, sensor):
        assert sensor == self.NVML_TEMPERATURE_GPU
        self._check(handle, "temperature")
        return handle.temp

    def nvmlDeviceGetPowerUsage(self, handle):
        self._check(handle, "power")
        return handle.power_mw


class FakePsutil:
    def __init__(self, cpu: float = 37.5, total_mb: float = 64_000, available_mb: float = 48_000):
        self.cpu = cpu
        self.total_mb = total_mb
        self.available_mb = available_mb
        self.cpu_calls = 0

    def cpu_percent(self, interval=None):
        self.cpu_calls += 1
        return self.cpu

    def virtual_memory(self):
        return SimpleNamespace(total=int(self.total_mb * MB), available=int(self.available_mb * MB))


@pytest.fixture
def fakes():
    """The fake NVML / psutil classes (importlib import mode: helper modules cannot be imported by name)."""
    return SimpleNamespace(
        FakeGpu=FakeGpu,
        FakeNVML=FakeNVML,
        FakePsutil=FakePsutil,
        NVMLError_NotSupported=NVMLError_NotSupported,
        NVMLError_LibraryNotFound=NVMLError_LibraryNotFound,
        NVMLError_GpuIsLost=NVMLError_GpuIsLost,
    )


def make_snapshot(at, gpus=(), cpu=20.0, ram_used=8_000.0, ram_total=16_000.0):
    """A sampler Snapshot built directly (the ORM side does not care where readings came from)."""
    from monitoring.engine.sampler import GpuReading, HostReading, Snapshot

    return Snapshot(
        at=at,
        host=HostReading(cpu_percent=cpu, ram_used_mb=ram_used, ram_total_mb=ram_total),
        gpus=[
            GpuReading(
                index=i,
                name="NVIDIA H100",
                utilization=u,
                memory_used_mb=m,
                memory_total_mb=80_000.0,
                temperature_c=60.0,
                power_w=300.0,
            )
            for i, (u, m) in enumerate(gpus)
        ],
    )


@pytest.fixture
def snapshot():
    return make_snapshot


@pytest.fixture
def record(db):
    """record(host, at, gpus=[(util, mem_used_mb), …], cpu=…) stores one tick like monitor_host does."""
    from monitoring import services

    def _record(host, at, gpus=(), **kw):
        return services.record_snapshot(host, make_snapshot(at, gpus, **kw))

    return _record


@pytest.fixture
def base_model(db):
    from training.models import FoundationModel

    return FoundationModel.objects.create(
        name="tiny-llama-mon", source="local", family="llama", is_available=True
    )


@pytest.fixture
def make_job(base_model):
    """make_job(status="running", **fields) → a TrainingJob row (no worker involved)."""
    from training.models import TrainingJob

    def _make(status="running", **fields):
        fields.setdefault("adapter_type", "task")
        fields.setdefault("adapter_name", "mon-adapter")
        fields.setdefault("training_type", "sft")
        return TrainingJob.objects.create(base_model=base_model, status=status, **fields)

    return _make


@pytest.fixture
def rq_workers_on():
    """rq_workers_on("training", ...) registers a real RQ worker record in the test Redis (cleaned at the end)."""
    from rq import Worker

    from rmnconsole.core.queues import get_queue

    born = []

    def _register(*names, worker_name="mon-test-worker"):
        queues = [get_queue(n) for n in names]
        worker = Worker(queues, connection=queues[0].connection, name=worker_name)
        worker.register_birth()
        born.append(worker)
        return worker

    yield _register
    for worker in born:
        worker.register_death()


@pytest.fixture
def make_runs(base_model):
    """make_runs([latency_ms, …], adapters=["name v1"], status="completed") → InferenceRun rows on one federation."""
    from federation.models import Federation, InferenceRun

    federation = Federation.objects.create(name="mon-fed", base_model=base_model, method="additive")

    def _make(latencies, adapters=("mon-adapter v1",), status="completed"):
        return InferenceRun.objects.bulk_create(
            [
                InferenceRun(
                    federation=federation,
                    prompt="p",
                    latency_ms=ms,
                    status=status,
                    adapters_used=[{"adapter": a, "role": "task", "weight": 1.0} for a in adapters],
                )
                for ms in latencies
            ]
        )

    return _make


def subprocess_env(settings) -> dict:
    """Environment for a `manage.py` child that must see this test's PostgreSQL database and Redis."""
    import os
    from urllib.parse import quote

    db = settings.DATABASES["default"]
    if "postgresql" not in db["ENGINE"]:
        pytest.skip("process tests need PostgreSQL (DATABASE_URL=postgres://…)")
    auth = quote(db.get("USER") or "") + (":" + quote(db["PASSWORD"]) if db.get("PASSWORD") else "")
    env = {k: v for k, v in os.environ.items() if k != "RMN_TEST_DB_NAME"}
    env.update(
        DATABASE_URL=f"postgres://{auth}@{db.get('HOST') or '127.0.0.1'}:{db.get('PORT') or 5432}/{db['NAME']}",
        REDIS_URL=settings.REDIS_URL,
        RMN_DATA_ROOT=str(settings.RMN_DATA_ROOT),
        DJANGO_SETTINGS_MODULE="rmnconsole.settings",
        PYTHONUNBUFFERED="1",
    )
    return env


@pytest.fixture
def child_env(settings, transactional_db):
    return subprocess_env(settings)
