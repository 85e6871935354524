"""Submit-time routing: num_gpus is validated, the estimate is stored, GPU jobs go to a capability queue or are refused."""

import pytest
import redis
from rq import Queue

from rmnconsole.core.errors import ServiceError
from training.scaleout import job_waiting_reason
from training.services import submit_training_job

pytestmark = pytest.mark.django_db


def _submit(base_model, dataset, config, **extra):
    fields = {"adapter_type": "retailer", "adapter_name": "amazon_schema_v2", "training_type": "sft", **extra}
    return submit_training_job(base_model=base_model, dataset_path=dataset, config=config, **fields)


@pytest.mark.parametrize("bad", [-1, 9, "two", 1.5])
def test_num_gpus_is_checked(tiny_base_models, sft_dataset, fast, bad):
    with pytest.raises(ServiceError) as err:
        _submit(tiny_base_models["tiny-llama"], sft_dataset, {**fast, "num_gpus": bad})
    assert err.value.field == "num_gpus"


def test_cpu_job_goes_to_the_plain_queue_with_its_estimate(
    tiny_base_models, sft_dataset, fast, settings, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        job = _submit(tiny_base_models["tiny-llama"], sft_dataset, fast)
    assert job.queue_name == "training"
    assert job.config["num_gpus"] == 0
    assert job.memory_estimate["total"] > 0 and job.memory_estimate["overhead"] == 0  # no CUDA context on CPU
    assert job.peak_memory_bytes is None
    conn = redis.Redis.from_url(settings.REDIS_URL)
    assert job.rq_job_id in Queue("training", connection=conn).job_ids
    Queue("training", connection=conn).empty()


def test_gpu_job_without_a_worker_is_refused_unless_allowed_to_wait(
    tiny_base_models, sft_dataset, fast, settings, django_capture_on_commit_callbacks
):
    model = tiny_base_models["tiny-llama"]
    with pytest.raises(ServiceError) as err:
        _submit(model, sft_dataset, {**fast, "num_gpus": 2})
    assert "needs 2 GPUs" in str(err.value) and "largest GPU worker online: none" in str(err.value)
    assert err.value.field == "num_gpus"

    with django_capture_on_commit_callbacks(execute=True):
        job = _submit(model, sft_dataset, {**fast, "num_gpus": 2}, allow_waiting=True)
    assert job.queue_name == "training.g2.m8"  # tiny model + CUDA context → smallest non-zero bucket
    conn = redis.Redis.from_url(settings.REDIS_URL)
    assert job.rq_job_id in Queue(job.queue_name, connection=conn).job_ids
    assert job.rq_job_id not in Queue("training", connection=conn).job_ids
    assert job_waiting_reason(job, conn) == "waiting: no worker with 2 GPUs with ≥ 8 GiB each online"
    Queue(job.queue_name, connection=conn).empty()


def test_estimate_refuses_8b_bf16_on_a_24_gib_host_and_accepts_qlora(
    llama_8b, sft_dataset, fake_gpu_worker, django_capture_on_commit_callbacks, settings
):
    fake_gpu_worker(1, 24, name="gpu-24g")
    with pytest.raises(ServiceError) as err:
        _submit(llama_8b, sft_dataset, {"num_gpus": 1, "batch_size": 4, "max_seq_length": 1024})
    message = str(err.value)
    assert "estimated 56.8 GiB per GPU" in message and "largest GPU worker online: 1 × 24 GiB" in message
    assert err.value.details["estimate"]["weights"] == pytest.approx(14.958, abs=0.01)

    qlora = {"num_gpus": 1, "quantization": "4bit", "batch_size": 1, "max_seq_length": 512}
    with django_capture_on_commit_callbacks(execute=True):
        job = _submit(llama_8b, sft_dataset, {**qlora, "gradient_checkpointing": True})
    assert job.queue_name == "training.g1.m8.bnb"  # 4-bit weights on a GPU need bitsandbytes there
    assert job.memory_estimate["total"] == pytest.approx(5.53, abs=0.05)
    conn = redis.Redis.from_url(settings.REDIS_URL)
    assert job_waiting_reason(job, conn) == ""  # the 24 GiB worker serves this queue
    Queue(job.queue_name, connection=conn).empty()


def test_4bit_gpu_job_is_refused_when_no_gpu_worker_has_bitsandbytes(llama_8b, sft_dataset, fake_gpu_worker):
    fake_gpu_worker(1, 80, name="gpu-80g-no-bnb", bitsandbytes=False)
    config = {"num_gpus": 1, "batch_size": 1, "max_seq_length": 512}
    with pytest.raises(ServiceError) as err:
        _submit(llama_8b, sft_dataset, config, training_type="qlora", adapter_name="amazon_qlora")
    assert "it needs 1 GPU with bitsandbytes (4/8-bit weights)" in str(err.value)
    assert err.value.details["queue"] == "training.g1.m16.bnb"
    # The same model in bf16 fits that 80 GiB card: it is accepted there.
    job = _submit(llama_8b, sft_dataset, config)
    assert job.queue_name == "training.g1.m24"


def test_worker_capabilities_override(capsys):
    from django.core.management import call_command
    from django.core.management.base import CommandError

    call_command(
        "training_worker",
        "--print-queues",
        "--capabilities",
        '{"host": "gpu-b", "gpu_count": 2, "gpu_memory_gib": 24}',
    )
    out = capsys.readouterr().out
    assert out.startswith("gpu-b: 2 GPU(s) × 24 GiB (announced)")
    assert "training.g2.m24" in out and "training.g2.m40" not in out and " training " in out + " "
    for bad, words in [
        ("{", "not valid JSON"),
        ('{"gpus": 2}', "unknown key 'gpus'"),
        ("[1]", "JSON object"),
    ]:
        with pytest.raises(CommandError, match=words):
            call_command("training_worker", "--print-queues", "--capabilities", bad)
