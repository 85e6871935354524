"""The queued-job base (rmnconsole.core.jobs): claim and finish are compare-and-set, a row keeps one RQ job id for
life, and a job reaches Redis only when the transaction that saved its row commits."""

from __future__ import annotations

import threading

import pytest
from django.apps import apps
from django.db import connection, transaction
from rq.job import Job

from rmnconsole.core import queues
from rmnconsole.core.jobs import QueuedJob
from rmnconsole.core.recovery import job_kinds


def _validation():
    from datasets_app.models import Dataset, DatasetValidation

    dataset = Dataset.objects.create(name="d", path="datasets/d.jsonl")
    return DatasetValidation.objects.create(dataset=dataset, options={"max_seq_len": 64})


def _default_queue():
    return queues.get_queue(queues.DEFAULT)


@pytest.mark.django_db
def test_claim_is_won_once_and_finish_ends_once():
    row = _validation()
    rival = type(row).objects.get(pk=row.pk)  # a second worker's copy of the same row
    assert row.claim("host-a:1")
    assert not rival.claim("host-b:2"), "the second claim finds the row no longer queued"
    row.refresh_from_db()
    assert (row.status, row.worker) == ("running", "host-a:1")
    assert row.started_at is not None and row.heartbeat_at is not None

    assert row.finish(row.Status.FAILED, "disk on fire")
    assert not rival.finish(rival.Status.COMPLETED), "an ended row is never ended again"
    assert not rival.claim("host-b:2"), "nor revived"
    row.refresh_from_db()
    assert (row.status, row.status_reason) == ("failed", "disk on fire") and row.finished_at is not None


@pytest.mark.django_db(transaction=True)
def test_concurrent_claims_from_threads_have_one_winner():
    row = _validation()
    barrier = threading.Barrier(6)
    wins = []

    def claim(n: int) -> None:
        try:
            copy = type(row).objects.get(pk=row.pk)
            barrier.wait()
            wins.append(copy.claim(f"host:{n}"))
        finally:
            connection.close()

    threads = [threading.Thread(target=claim, args=(n,)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(wins) == [False] * 5 + [True]


@pytest.mark.django_db(transaction=True)
def test_enqueue_on_commit_reaches_redis_only_after_commit():
    queue = _default_queue()
    with transaction.atomic():
        row = _validation()
        row.enqueue_on_commit()
        assert row.rq_job_id == f"dataset-validation-{row.pk}"
        assert queue.count == 0, "nothing is on the queue while the transaction is open"
    assert queue.job_ids == [row.rq_job_id]
    job = Job.fetch(row.rq_job_id, connection=queue.connection)
    assert job.func_name == type(row).task_path and job.args == (row.pk,)
    # Redis lost it: the re-enqueue (recovery) keeps the id, so a late duplicate finds the row already claimed.
    queue.connection.flushdb()
    row.enqueue()
    assert queue.job_ids == [row.rq_job_id]


@pytest.mark.django_db(transaction=True)
def test_a_rolled_back_request_leaves_no_job():
    from datasets_app.models import DatasetValidation

    queue = _default_queue()
    with pytest.raises(RuntimeError), transaction.atomic():
        _validation().enqueue_on_commit()
        raise RuntimeError("the request failed after saving")
    assert queue.count == 0 and not DatasetValidation.objects.exists()


def test_every_job_model_is_registered_for_recovery_by_its_app():
    """The core names no app: each app's ready() registers its kinds, and no QueuedJob model is left out."""
    registered = {kind.model for kind in job_kinds()}
    models = {m for m in apps.get_models() if issubclass(m, QueuedJob)}
    assert models <= registered, f"job models without a recovery kind: {models - registered}"
    labels = {kind.label for kind in job_kinds()}
    assert {"training job", "inference run", "A/B test", "gate training", "dataset validation"} <= labels
    for kind in job_kinds():
        assert kind.task_path and kind.model.default_queue in queues.ALL, kind.label


def test_the_core_imports_no_app():
    from pathlib import Path

    import rmnconsole.core

    core = Path(rmnconsole.core.__file__).parent
    apps_named = ("datasets_app", "training", "federation", "monitoring")
    offenders = [
        f"{path.name}: {line.strip()}"
        for path in core.rglob("*.py")
        for line in path.read_text().splitlines()
        if line.strip().startswith(("from ", "import ")) and line.split()[1].split(".")[0] in apps_named
    ]
    assert offenders == []
