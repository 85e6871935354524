"""Background validation through a real RQ worker process (queue `default`), Redis and PostgreSQL."""

from __future__ import annotations

import socket

import pytest

from datasets_app.library import services
from datasets_app.models import Dataset
from tests.datasets_app.dataset_helpers import poor_rows, sft_rows, write_jsonl

pytestmark = pytest.mark.integration


def test_large_file_is_validated_by_the_worker(rq_worker, data_root, user, settings):
    settings.RMN_DATASET_INLINE_MB = 0.001  # this file counts as "large": it goes to the queue
    write_jsonl(data_root / "datasets" / "big.jsonl", poor_rows(60))
    ds = services.register_dataset_file("datasets/big.jsonl", name="big", user=user)
    assert ds.status == "pending" and ds.quality_score is None
    result = rq_worker.run_burst("default")
    assert result.returncode == 0, result.stderr[-2000:]
    ds.refresh_from_db()
    assert ds.status == "ready", ds.status_reason
    assert ds.num_examples == 80 and ds.progress_pct == 100.0
    assert ds.report["checks"]["exact_duplicates"]["count"] == 20
    assert ds.band == "poor" and len(ds.sha256) == 64
    # The worker that validated it signed the validation row ("host:pid") and stamped its heartbeat (recovery
    # reads both); the row records what it found.
    validation = ds.validations.get()
    assert validation.worker.startswith(socket.gethostname() + ":") and validation.heartbeat_at is not None
    assert (validation.status, validation.progress_pct, validation.quality_score) == (
        "completed",
        100.0,
        ds.quality_score,
    )

    # Re-validation of a large file is queued too, and the worker's result replaces the report.
    write_jsonl(data_root / "datasets" / "big.jsonl", sft_rows(60))
    ds = services.validate_dataset(ds, user=user)
    assert ds.status == "pending"
    assert rq_worker.run_burst("default").returncode == 0
    ds.refresh_from_db()
    assert (ds.status, ds.num_examples, ds.quality_score) == ("ready", 60, 100.0)
    assert list(ds.validations.values_list("status", flat=True)) == ["completed", "completed"]


def test_a_file_that_turns_out_not_to_be_jsonl_fails_with_the_line(rq_worker, data_root, user, settings):
    settings.RMN_DATASET_INLINE_MB = 0.001
    path = write_jsonl(data_root / "datasets" / "later.jsonl", sft_rows(10))
    ds = services.register_dataset_file("datasets/later.jsonl", user=user)
    path.write_bytes(b"x,y\n" * 400)  # replaced before the worker reads it
    assert rq_worker.run_burst("default").returncode == 0
    ds.refresh_from_db()
    assert ds.status == "failed" and "Not a JSONL file: line 1" in ds.status_reason
    assert Dataset.objects.get(pk=ds.pk).quality_score is None
