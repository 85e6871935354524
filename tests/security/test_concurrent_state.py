"""Check-then-act on a row's state is atomic: N simultaneous calls from threads against PostgreSQL, exactly one winner,
the others 409 (Conflict), one audit row."""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest
from django.db import connection, connections

from rmnconsole.core.errors import Conflict, NotFound
from rmnconsole.models import AuditEvent
from tests.security.world import sft_lines, write_jsonl

pytestmark = pytest.mark.django_db(transaction=True)
N = 6


def race(call: Callable[[], object], n: int = N) -> tuple[list, list]:
    """Run `call` in n threads released together; (results, errors)."""
    if connection.vendor != "postgresql":
        pytest.skip("row locks are a PostgreSQL matter")
    barrier = threading.Barrier(n)
    results, errors = [], []
    lock = threading.Lock()

    def run():
        try:
            barrier.wait()
            value = call()
            with lock:
                results.append(value)
        except Exception as exc:
            with lock:
                errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run) for _ in range(n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    return results, errors


def assert_one_winner(results, errors, losers: tuple[type, ...] = (Conflict,)):
    assert len(results) == 1, (results, errors)
    assert len(errors) == N - 1 and all(isinstance(e, losers) for e in errors), errors


def test_concurrent_resumes_make_one_job(data_root, user, tiny_base_models):
    from training.models import TrainingJob
    from training.services import resume_training_job

    dataset = write_jsonl(data_root / "datasets" / "r.jsonl", sft_lines())
    old = TrainingJob.objects.create(
        adapter_type="retailer", adapter_name="resumed", base_model=tiny_base_models["tiny-llama"],
        training_type="sft", dataset_path="datasets/r.jsonl", config={"max_steps": 4}, status="cancelled",
        total_steps=4, created_by=user,
    )  # fmt: skip
    checkpoint = data_root / "checkpoints" / f"job-{old.pk}" / "checkpoint-2"
    checkpoint.mkdir(parents=True)
    (checkpoint / "trainer_state.json").write_text("{}")
    assert dataset.is_file()

    assert_one_winner(*race(lambda: resume_training_job(old.pk, user)))
    assert TrainingJob.objects.filter(resumed_from=old).count() == 1
    assert AuditEvent.objects.filter(action="training.resume").count() == 1


def test_concurrent_dataset_deletes_have_one_winner(data_root, user, staff_user):
    from datasets_app.library.services import delete_dataset, get_dataset, register_dataset_file

    path = write_jsonl(data_root / "datasets" / "d.jsonl", sft_lines())
    dataset = register_dataset_file(path, name="d", user=user, background=False)
    rows = [
        get_dataset(dataset.pk) for _ in range(N)
    ]  # each request loaded the row before the others deleted it
    it = iter(rows)
    lock = threading.Lock()

    def call():
        with lock:
            row = next(it)
        return delete_dataset(row, user=staff_user)

    assert_one_winner(*race(call))
    assert AuditEvent.objects.filter(action="dataset.delete").count() == 1


def test_concurrent_adapter_deletes_have_one_winner(data_root, staff_user, tiny_base_models):
    from training.models import Adapter
    from training.services import delete_adapter

    folder = data_root / "adapters" / "a" / "v1"
    folder.mkdir(parents=True)
    adapter = Adapter.objects.create(
        adapter_type="retailer", name="a", version=1, base_model=tiny_base_models["tiny-llama"], rank=4, alpha=8,
        target_modules=["q_proj"], path="adapters/a/v1", size_bytes=1, sha256="0" * 64,
    )  # fmt: skip
    # A request that starts after the winner committed finds nothing to delete: NotFound, as honest as Conflict.
    assert_one_winner(*race(lambda: delete_adapter(adapter.pk, staff_user)), losers=(Conflict, NotFound))
    assert AuditEvent.objects.filter(action="adapter.delete").count() == 1


def test_concurrent_cancels_of_a_running_job_audit_once(user, tiny_base_models):
    from training.models import TrainingJob
    from training.services import cancel_training_job

    job = TrainingJob.objects.create(
        adapter_type="retailer", adapter_name="running", base_model=tiny_base_models["tiny-llama"],
        training_type="sft", dataset_path="datasets/x.jsonl", config={}, status="running", created_by=user,
    )  # fmt: skip
    assert_one_winner(*race(lambda: cancel_training_job(job.pk, user)))
    assert AuditEvent.objects.filter(action="training.cancel").count() == 1


def test_concurrent_edits_of_an_active_mapping_make_one_draft(data_root, user):
    from datasets_app.mappings.services import activate_mapping, create_mapping, edit_mapping
    from datasets_app.mappings.sources import register_source
    from datasets_app.models import SchemaMapping
    from tests.security.world import RULES, SOURCE_HEADER, SOURCE_ROWS

    folder = data_root / "sources"
    folder.mkdir()
    lines = [",".join(SOURCE_HEADER)] + [",".join(str(v) for v in row) for row in SOURCE_ROWS]
    (folder / "s.csv").write_text("\n".join(lines) + "\n")
    source = register_source(folder / "s.csv", name="s", retailer="r", time_column="ts", user=user)
    active = activate_mapping(create_mapping(name="m", retailer="r", source=source, rules=RULES, user=user),
                              user=user, force=True)  # fmt: skip
    results, errors = race(lambda: edit_mapping(active, user=user).pk)
    assert not errors and len(set(results)) == 1, (results, errors)
    assert SchemaMapping.objects.filter(status="draft").count() == 1
