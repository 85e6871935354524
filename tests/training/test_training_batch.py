"""manage.py train_batch: validates every job before queueing any; --wait follows them to the end."""

import json

import pytest
import yaml
from django.core.management import CommandError, call_command

from training.models import Adapter, TrainingJob

pytestmark = pytest.mark.django_db(transaction=True)


def test_one_bad_job_means_none_is_queued(tmp_path, tiny_llama, write_dataset, rows):
    write_dataset("amazon.jsonl", rows.messages(8))
    batch = tmp_path / "batch.json"
    batch.write_text(
        json.dumps(
            [
                {"name": "amazon_v2", "dataset": "datasets/amazon.jsonl"},
                {"name": "walmart_v2", "dataset": "datasets/walmart.jsonl"},
                {"name": "target_v2", "dataset": "datasets/amazon.jsonl", "lora_r": 0},
            ]
        )
    )
    with pytest.raises(CommandError) as info:
        call_command("train_batch", str(batch))
    message = str(info.value)
    assert "2 of 3 jobs are invalid, none queued" in message
    assert "job 2 (walmart_v2): Dataset file datasets/walmart.jsonl does not exist" in message
    assert "job 3 (target_v2): Invalid lora_r" in message
    assert not TrainingJob.objects.exists()


def test_unreadable_batch_files_fail_with_one_line(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("jobs: [unclosed")
    with pytest.raises(CommandError, match="not valid YAML/JSON"):
        call_command("train_batch", str(bad))
    with pytest.raises(CommandError, match="cannot read"):
        call_command("train_batch", str(tmp_path / "missing.yaml"))


@pytest.mark.slow
@pytest.mark.integration
def test_batch_with_wait_reports_each_job_and_fails_if_one_fails(
    fast, tmp_path, rq_worker, tiny_llama, write_dataset, rows, capsys
):
    write_dataset("amazon.jsonl", rows.messages(12))
    write_dataset("walmart.jsonl", rows.prompt_completion(12))
    # Row 2001 is broken: past what submit previews, so the worker finds it and fails the job readably.
    write_dataset(
        "target.jsonl", [*rows.prompt_completion(2000), {"prompt": "p", "chosen": "a", "rejected": "b"}]
    )
    batch = tmp_path / "batch.yaml"
    batch.write_text(
        yaml.safe_dump(
            {
                "defaults": {"base_model": "tiny-llama", "config": {**fast, "max_steps": 3}},
                "jobs": [
                    {"name": "amazon_v2", "dataset": "datasets/amazon.jsonl"},
                    {"name": "walmart_v2", "dataset": "datasets/walmart.jsonl", "type": "task"},
                    {"name": "target_v2", "dataset": "datasets/target.jsonl"},
                ],
            }
        )
    )
    proc = rq_worker.start("training")
    with pytest.raises(CommandError, match="1 of 3 jobs did not complete"):
        call_command("train_batch", str(batch), "--wait", "--poll", "0.2")
    assert proc.poll() is None
    out = capsys.readouterr().out
    assert len([line for line in out.splitlines() if line.startswith("queued job")]) == 3
    jobs = {j.adapter_name: j for j in TrainingJob.objects.all()}
    assert jobs["amazon_v2"].status == jobs["walmart_v2"].status == "completed"
    assert jobs["walmart_v2"].adapter_type == "task" and jobs["amazon_v2"].adapter_type == "retailer"
    assert jobs["target_v2"].status == "failed"
    assert (
        jobs["target_v2"].status_reason.startswith("Dataset problem:")
        and "line 2001" in jobs["target_v2"].status_reason
    )
    assert f"job {jobs['target_v2'].pk} target_v2: failed" in out
    assert set(Adapter.objects.values_list("name", flat=True)) == {"amazon_v2", "walmart_v2"}
