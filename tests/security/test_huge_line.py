"""One huge line among normal ones: validation flags it unread, the gate refuses the dataset, training skips it
without ever holding it (the job's recorded peak stays far below what materialising it costs), and a max_seq_length
that leaves nothing to learn is refused at submit."""

from __future__ import annotations

import json
import tracemalloc

import pytest

from rmnconsole.core.errors import ServiceError
from tests.security.world import sft_lines, write_jsonl

HUGE_MB = 20
NORMAL = 200


def write_with_huge_line(path, huge_mb: int = HUGE_MB):
    rows = sft_lines(NORMAL)
    write_jsonl(path, rows[:100])
    huge = {"messages": [{"role": "user", "content": "x " * (huge_mb * 512 * 1024)},
                         {"role": "assistant", "content": "ok"}]}  # fmt: skip
    with path.open("a", encoding="utf-8") as out:
        out.write(json.dumps(huge) + "\n")
        out.writelines(json.dumps(r) + "\n" for r in rows[100:])
    return path


def test_validation_flags_the_huge_line_unread(tmp_path):
    from datasets_app.library.validation import validate_file

    path = write_with_huge_line(tmp_path / "huge.jsonl")

    def traced_peak(**kwargs):
        tracemalloc.start()
        result = validate_file(path, **kwargs).to_dict()
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        return result, peak

    report, peak = traced_peak()
    _, naive_peak = traced_peak(max_line_bytes=None)  # the line read and parsed like any other
    check = report["checks"]["too_long"]
    assert (check["count"], check["examples"]) == (1, [101])
    assert check["status"] == "fail" and check["details"]["largest_bytes"] > HUGE_MB * 1_000_000
    assert report["quality_score"] < 85 and report["band"] == "poor"
    assert any("size limit" in cap["reason"] for cap in report["caps"])
    # The line is never joined, decoded or parsed: Python holds a read chunk or two, not 20 MB of line + its text.
    assert peak < 32 * 1024 * 1024 and peak * 2 < naive_peak, (peak, naive_peak)


@pytest.mark.django_db
def test_the_gate_refuses_a_dataset_with_a_huge_line(data_root, user):
    from datasets_app.library.services import check_quality_gate, register_dataset_file

    path = write_with_huge_line(data_root / "datasets" / "huge.jsonl")
    dataset = register_dataset_file(path, name="huge", user=user, background=False)
    assert dataset.quality_score < 85
    with pytest.raises(ServiceError, match="size limit"):
        check_quality_gate(dataset, override=False)


def test_training_data_skips_the_huge_line_without_reading_it(tmp_path):
    from training.engine.data import line_byte_cap, load_training_data

    path = write_with_huge_line(tmp_path / "huge.jsonl")
    tracemalloc.start()
    data = load_training_data(path, "sft", 0.1, 7, max_seq_length=256)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert data.dropped_too_long == 1
    assert len(data.train_rows) + len(data.eval_rows) == NORMAL
    assert peak < 4 * line_byte_cap(256) + 8 * 1024 * 1024, peak


@pytest.mark.django_db
def test_a_max_seq_length_that_leaves_no_example_is_refused_at_submit(data_root, user, tiny_base_models):
    from training.services import submit_training_job

    rows = [{"prompt": " ".join(f"word{i}-{k}" for k in range(120)), "completion": "yes"} for i in range(30)]
    write_jsonl(data_root / "datasets" / "long_prompts.jsonl", rows)
    with pytest.raises(ServiceError, match="leaves no example") as info:
        submit_training_job(
            adapter_type="retailer", adapter_name="nothing_left", base_model="tiny-llama",
            dataset_path="datasets/long_prompts.jsonl", quality_override=True,
            config={"max_steps": 2, "max_seq_length": 16}, user=user,
        )  # fmt: skip
    assert info.value.field == "max_seq_length"


@pytest.mark.django_db(transaction=True)
def test_a_training_job_on_the_huge_line_file_stays_small(data_root, user, tiny_base_models, rq_worker):
    from training.models import TrainingJob
    from training.services import submit_training_job

    write_with_huge_line(data_root / "datasets" / "huge.jsonl")
    job = submit_training_job(
        adapter_type="retailer", adapter_name="huge_line", base_model="tiny-llama",
        dataset_path="datasets/huge.jsonl", quality_override=True,
        config={"max_steps": 2, "batch_size": 4, "max_seq_length": 128, "checkpoint_steps": 2,
                "eval_steps": 2, "lora_r": 4, "lora_alpha": 8},
        user=user,
    )  # fmt: skip
    result = rq_worker.run_burst("training", timeout=600)
    job = TrainingJob.objects.get(pk=job.pk)
    assert job.status == "completed", (job.status_reason, job.log[-2000:], result.stdout[-2000:])
    # Tokenising the 20 MB line took ~6 GB when it was materialised (the 50 MB one 14.4 GB); skipped, the horse
    # stays at the size of torch + the tiny model.
    print(f"huge-line job peak: {job.peak_memory_bytes / 2**20:.0f} MiB")
    assert job.peak_memory_bytes and job.peak_memory_bytes < 2 * 1024**3, job.peak_memory_bytes
