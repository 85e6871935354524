"""The sampler against a fake NVML (values and errors) and the real no-driver path of this machine."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

import pytest

from monitoring.engine.capabilities import detect_capabilities, package_version
from monitoring.engine.sampler import GpuSampler


def test_fake_nvml_values_are_converted(fakes):
    nvml = fakes.FakeNVML(
        [
            fakes.FakeGpu(),
            fakes.FakeGpu(
                name="NVIDIA A10G", util=97, used_mb=22_000, total_mb=23_028, temp=71, power_mw=140_500
            ),
        ]
    )
    sampler = GpuSampler(
        nvml=nvml, psutil_module=fakes.FakePsutil(cpu=12.5, total_mb=64_000, available_mb=16_000)
    )
    snap = sampler.sample(now=datetime(2025, 1, 1, tzinfo=UTC))
    assert snap.no_gpu_reason == ""
    assert snap.at == datetime(2025, 1, 1, tzinfo=UTC)
    assert [g.index for g in snap.gpus] == [0, 1]
    a10 = snap.gpus[1]
    assert a10.name == "NVIDIA A10G"
    assert a10.utilization == 97.0
    assert a10.memory_used_mb == pytest.approx(22_000)
    assert a10.memory_total_mb == pytest.approx(23_028)
    assert a10.temperature_c == 71.0
    assert a10.power_w == pytest.approx(140.5)  # milliwatts → watts
    assert snap.host.cpu_percent == 12.5
    assert snap.host.ram_total_mb == pytest.approx(64_000)
    assert snap.host.ram_used_mb == pytest.approx(48_000)  # total − available
    assert sampler.driver_version == "550.54.15" and sampler.cuda_driver_version == "12.4"
    sampler.close()
    assert nvml.shutdown_calls == 1


def test_unsupported_gauge_stays_empty_and_is_reported_once(fakes, caplog):
    nvml = fakes.FakeNVML([fakes.FakeGpu(errors={"power": fakes.NVMLError_NotSupported})])
    sampler = GpuSampler(nvml=nvml, psutil_module=fakes.FakePsutil())
    with caplog.at_level(logging.WARNING, logger="monitoring.engine.sampler"):
        first = sampler.sample()
        second = sampler.sample()
    for snap in (first, second):
        gpu = snap.gpus[0]
        assert gpu.power_w is None
        assert gpu.utilization == 42.0 and gpu.temperature_c == 55.0  # the other gauges still count
        assert gpu.error == ""
    messages = [r.getMessage() for r in caplog.records]
    assert messages.count("GPU 0 power: Not Supported") == 1


def test_lost_gpu_is_an_error_row_and_others_keep_reporting(fakes):
    nvml = fakes.FakeNVML(
        [fakes.FakeGpu(errors={"handle": fakes.NVMLError_GpuIsLost}), fakes.FakeGpu(util=5)]
    )
    snap = GpuSampler(nvml=nvml, psutil_module=fakes.FakePsutil()).sample()
    assert snap.gpus[0].error == "GPU 0 unreadable: GPU is lost"
    assert snap.gpus[0].utilization is None
    assert snap.gpus[1].utilization == 5.0 and snap.gpus[1].error == ""


def test_no_driver_reports_no_gpu_once_and_keeps_cpu_ram(fakes, caplog):
    nvml = fakes.FakeNVML(init_error=fakes.NVMLError_LibraryNotFound)
    ps = fakes.FakePsutil(cpu=80.0)
    sampler = GpuSampler(nvml=nvml, psutil_module=ps)
    with caplog.at_level(logging.WARNING, logger="monitoring.engine.sampler"):
        snaps = [sampler.sample() for _ in range(3)]
    assert nvml.init_calls == 1
    assert all(s.gpus == [] for s in snaps)
    assert all(s.host.cpu_percent == 80.0 and s.host.ram_total_mb for s in snaps)
    assert snaps[0].no_gpu_reason == "No NVIDIA driver (NVML: NVML Shared Library Not Found)"
    no_gpu_logs = [r for r in caplog.records if "No GPU on this host" in r.getMessage()]
    assert len(no_gpu_logs) == 1
    sampler.close()
    assert nvml.shutdown_calls == 0  # never initialised, so nothing to shut down


def test_real_nvml_without_driver_here(caplog):
    """nvidia-ml-py is installed but this machine has no NVIDIA driver: "no GPU" once, real CPU/RAM readings."""
    import pynvml

    try:
        pynvml.nvmlInit()
    except pynvml.NVMLError:
        pass
    else:  # pragma: no cover - only on a GPU host
        pynvml.nvmlShutdown()
        pytest.skip("this machine has an NVIDIA driver; the no-driver path cannot be exercised")
    with caplog.at_level(logging.WARNING, logger="monitoring.engine.sampler"), GpuSampler() as sampler:
        snaps = [sampler.sample() for _ in range(2)]
    assert "NVML" in snaps[0].no_gpu_reason
    assert snaps[0].gpus == [] and snaps[1].gpus == []
    assert 0.0 <= snaps[1].host.cpu_percent <= 100.0
    assert 0 < snaps[1].host.ram_used_mb < snaps[1].host.ram_total_mb
    assert sum("No GPU on this host" in r.getMessage() for r in caplog.records) == 1


def test_sampler_without_nvidia_ml_py(fakes):
    snap = GpuSampler(nvml=None, psutil_module=fakes.FakePsutil()).sample()
    assert snap.no_gpu_reason == "nvidia-ml-py is not installed"
    assert snap.host.cpu_percent == 37.5


def test_capabilities_with_fake_gpus(fakes):
    nvml = fakes.FakeNVML([fakes.FakeGpu(), fakes.FakeGpu(name="NVIDIA L4", total_mb=23_034)])
    caps = detect_capabilities(
        "gpu-box",
        GpuSampler(nvml=nvml, psutil_module=fakes.FakePsutil()),
        cuda_probe=lambda: True,
        version_of={"bitsandbytes": "0.50.2", "torch": "2.13.0"}.get,
    )
    assert caps.host == "gpu-box"
    assert [g["name"] for g in caps.gpus] == ["NVIDIA H100 80GB HBM3", "NVIDIA L4"]
    assert caps.gpus[1]["memory_total_mb"] == pytest.approx(23_034)
    assert caps.cuda is True and caps.cuda_version == "12.4"
    assert caps.bitsandbytes is True and caps.bitsandbytes_version == "0.50.2"
    assert caps.no_gpu_reason == ""


def test_capabilities_real_host_without_gpu():
    probed = []
    caps = detect_capabilities("cpu-box", GpuSampler(), cuda_probe=lambda: probed.append(1) or True)
    assert caps.gpus == [] and caps.cuda is False
    assert probed == []  # no GPU: torch is never imported to ask about CUDA
    assert caps.no_gpu_reason
    assert caps.bitsandbytes is True and caps.bitsandbytes_version == package_version("bitsandbytes") != ""
    assert caps.ram_total_mb > 0 and caps.cpu_count >= 1
