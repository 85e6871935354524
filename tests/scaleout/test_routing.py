"""Capability queues: a job lands only where a worker can run it, and says why it waits otherwise."""

import types

import pytest
import redis
from rq import Queue, Worker

from training.routing import (
    Capabilities,
    Requirements,
    detect_capabilities,
    largest_online_gpu,
    parse_queue,
    queue_for,
    queues_for,
    waiting_reason,
)

H100 = Capabilities(
    host="gpu-a", gpu_count=1, gpu_names=["NVIDIA H100"], gpu_memory_gib=79.6, cuda=True, bitsandbytes=True
)
TWO_A10 = Capabilities(
    host="gpu-b", gpu_count=2, gpu_names=["NVIDIA A10G"] * 2, gpu_memory_gib=22.0, cuda=True
)
CPU = Capabilities(host="cpu-a")


def test_queue_names_round_trip():
    req = Requirements(gpus=2, min_gpu_memory_gib=20)
    assert queue_for(req) == "training.g2.m24"
    assert parse_queue("training.g2.m24") == Requirements(gpus=2, min_gpu_memory_gib=24)
    assert queue_for(Requirements()) == "training"
    assert queue_for(Requirements(gpus=3)) == "training.g4.m0"


def test_each_worker_serves_exactly_what_it_can():
    assert queues_for(CPU) == ["training"]
    h100 = queues_for(H100)
    assert "training.g1.m48" in h100 and "training.g1.m80" not in h100  # 79.6 GiB < the 80 bucket
    assert not any(q.startswith("training.g2") for q in h100)
    a10 = queues_for(TWO_A10)
    assert "training.g2.m16" in a10 and "training.g2.m24" not in a10
    big_job = queue_for(Requirements(gpus=1, min_gpu_memory_gib=40))
    assert big_job in h100 and big_job not in a10 and big_job not in queues_for(CPU)
    assert queue_for(Requirements(gpus=2, min_gpu_memory_gib=12)) in a10


def test_waiting_reason_names_the_missing_capability(settings):
    conn = redis.Redis.from_url(settings.REDIS_URL)
    queue = queue_for(Requirements(gpus=2, min_gpu_memory_gib=30))
    assert waiting_reason(queue, conn) == "waiting: no worker with 2 GPUs with ≥ 40 GiB each online"
    assert waiting_reason("training", conn) == "waiting: no training worker online"
    worker = Worker(
        [Queue(name, connection=conn) for name in queues_for(H100)], connection=conn, name="fake-h100"
    )
    worker.register_birth()
    try:
        assert waiting_reason("training.g1.m40", conn) == ""
        assert largest_online_gpu(conn) == (1, 48)
    finally:
        worker.register_death()


class FakeNVML(types.SimpleNamespace):
    class NVMLError(Exception):
        pass


def test_detect_capabilities_reads_nvml():
    mem = types.SimpleNamespace(total=80 * 1024**3)
    nvml = FakeNVML(
        nvmlInit=lambda: None,
        nvmlShutdown=lambda: None,
        nvmlDeviceGetCount=lambda: 2,
        nvmlDeviceGetHandleByIndex=lambda i: i,
        nvmlDeviceGetName=lambda h: b"NVIDIA H100 80GB HBM3",
        nvmlDeviceGetMemoryInfo=lambda h: mem,
    )
    cap = detect_capabilities(nvml)
    assert cap.gpu_count == 2 and cap.cuda and cap.gpu_names == ["NVIDIA H100 80GB HBM3"] * 2
    assert cap.gpu_memory_gib == 80.0


def test_detect_capabilities_without_a_driver():
    cap = detect_capabilities()  # the real pynvml: no NVIDIA driver on this machine
    if cap.gpu_count:
        pytest.skip("this machine has a GPU")
    assert not cap.cuda and "no NVIDIA driver" in cap.no_gpu_reason
    assert queues_for(cap) == ["training"]


def test_quantized_gpu_jobs_go_only_to_workers_with_bitsandbytes():
    qlora = Requirements(gpus=1, min_gpu_memory_gib=6, bitsandbytes=True)
    assert queue_for(qlora) == "training.g1.m8.bnb"
    assert parse_queue("training.g1.m8.bnb") == Requirements(gpus=1, min_gpu_memory_gib=8, bitsandbytes=True)
    # The H100 host has bitsandbytes: it serves both kinds; the A10 host has none: 4-bit jobs never reach it.
    assert {"training.g1.m8.bnb", "training.g1.m8"} <= set(queues_for(H100))
    assert "training.g1.m8.bnb" not in queues_for(TWO_A10) and "training.g1.m8" in queues_for(TWO_A10)
    assert qlora.describe() == "a worker with 1 GPU with ≥ 8 GiB each and bitsandbytes"


def test_waiting_reason_names_bitsandbytes(settings):
    conn = redis.Redis.from_url(settings.REDIS_URL)
    worker = Worker(
        [Queue(name, connection=conn) for name in queues_for(TWO_A10)], connection=conn, name="fake-a10"
    )
    worker.register_birth()
    try:
        assert waiting_reason("training.g1.m8", conn) == ""
        assert (
            waiting_reason("training.g1.m8.bnb", conn)
            == "waiting: no worker with 1 GPU with ≥ 8 GiB each and bitsandbytes online"
        )
    finally:
        worker.register_death()


def test_detect_capabilities_counts_only_the_gpus_cuda_visible_devices_shows(monkeypatch):
    memory = {0: 80, 1: 80, 2: 40, 3: 40}
    nvml = FakeNVML(
        nvmlInit=lambda: None,
        nvmlShutdown=lambda: None,
        nvmlDeviceGetCount=lambda: 4,
        nvmlDeviceGetHandleByIndex=lambda i: i,
        nvmlDeviceGetName=lambda h: "NVIDIA A100" if h < 2 else "NVIDIA A100 40GB",
        nvmlDeviceGetUUID=lambda h: f"GPU-{h}aaa-bbbb",
        nvmlDeviceGetMemoryInfo=lambda h: types.SimpleNamespace(total=memory[h] * 1024**3),
    )
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "1")  # one worker per GPU: this one owns GPU 1 only
    cap = detect_capabilities(nvml)
    assert (cap.gpu_count, cap.gpu_memory_gib) == (1, 80.0)
    assert not any(q.startswith("training.g2") for q in queues_for(cap))
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "GPU-2aaa,3")
    assert detect_capabilities(nvml).gpu_count == 2 and detect_capabilities(nvml).gpu_memory_gib == 40.0
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    cap = detect_capabilities(nvml)
    assert cap.gpu_count == 0 and not cap.cuda and "CUDA_VISIBLE_DEVICES" in cap.no_gpu_reason
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES")
    assert detect_capabilities(nvml).gpu_count == 4
