"""Dataset services: register (inline), path confinement, re-validation, the quality gate, delete, uploads."""

from __future__ import annotations

import os

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from datasets_app.library import services
from datasets_app.models import Dataset
from rmnconsole.core.errors import Conflict, Forbidden, ServiceError
from rmnconsole.models import AuditEvent
from tests.datasets_app.dataset_helpers import poor_rows, sft_rows, write_jsonl

pytestmark = pytest.mark.django_db


def test_register_validates_inline_and_versions_by_name(data_root, user):
    write_jsonl(data_root / "datasets" / "amazon.jsonl", sft_rows(30))
    write_jsonl(data_root / "datasets" / "amazon_v2.jsonl", sft_rows(40, seed=5))
    first = services.register_dataset_file(
        "datasets/amazon.jsonl", name="amazon", dataset_type=None, user=user
    )
    second = services.register_dataset_file("amazon_v2.jsonl", name="amazon", dataset_type=None, user=user)
    assert (first.status, first.format, first.dataset_type, first.num_examples) == (
        "ready",
        "messages",
        "sft",
        30,
    )
    assert first.quality_score == 100.0 and first.band == "excellent"
    assert first.path == "datasets/amazon.jsonl" and len(first.sha256) == 64
    assert (first.version, second.version) == (1, 2)
    assert second.path == "datasets/amazon_v2.jsonl" and second.num_examples == 40
    assert first.report["checks"]["exact_duplicates"]["count"] == 0
    assert AuditEvent.objects.filter(action="dataset.register", object_id=str(first.pk)).exists()


@pytest.mark.parametrize(
    "bad",
    [
        "../outside.jsonl",
        "datasets/../../outside.jsonl",
        "/etc/passwd",
        "sources/x.jsonl",
        "datasets/link.jsonl",
        "data\x00.jsonl",
        "",
    ],
    ids=["dotdot", "dotdot-nested", "absolute-elsewhere", "other-data-folder", "symlink-out", "nul", "empty"],
)
def test_paths_outside_the_datasets_folder_are_refused(data_root, tmp_path, user, bad):
    outside = write_jsonl(tmp_path / "outside.jsonl", sft_rows(3))
    write_jsonl(data_root / "sources" / "x.jsonl", sft_rows(3))
    (data_root / "datasets").mkdir(exist_ok=True)
    os.symlink(outside, data_root / "datasets" / "link.jsonl")
    write_jsonl(data_root / "outside.jsonl", sft_rows(3))
    with pytest.raises(ServiceError) as exc:
        services.register_dataset_file(bad, user=user)
    assert exc.value.field == "path"
    assert Dataset.objects.count() == 0


def test_absolute_path_inside_the_datasets_folder_is_accepted(data_root, user):
    path = write_jsonl(data_root / "datasets" / "sub" / "ok.jsonl", sft_rows(5))
    assert services.register_dataset_file(str(path), user=user).path == "datasets/sub/ok.jsonl"


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("missing.jsonl", None, "does not exist"),
        ("notes.txt", b'{"prompt": "a", "completion": "b"}\n', "not a .jsonl"),
        ("latin1.jsonl", b'{"prompt": "caf\xe9", "completion": "b"}\n', "Line 1 is not valid UTF-8"),
        ("table.jsonl", b"a,b\n1,2\n", "Not a JSONL file: line 1"),
        ("empty.jsonl", b"", "empty"),
    ],
)
def test_bad_files_are_refused_and_nothing_is_registered(data_root, user, name, content, message):
    if content is not None:
        (data_root / "datasets").mkdir(exist_ok=True)
        (data_root / "datasets" / name).write_bytes(content)
    with pytest.raises(ServiceError, match=message):
        services.register_dataset_file(f"datasets/{name}", user=user)
    assert Dataset.objects.count() == 0


def test_registering_the_same_file_twice_conflicts(data_root, user):
    write_jsonl(data_root / "datasets" / "a.jsonl", sft_rows(5))
    services.register_dataset_file("datasets/a.jsonl", user=user)
    with pytest.raises(Conflict):
        services.register_dataset_file("datasets/a.jsonl", name="other", user=user)


def test_get_or_register_by_path_registers_once_and_revalidates_a_changed_file(data_root, user, settings):
    settings.RMN_DATASET_INLINE_MB = 0.0001  # large-file rule must not apply: training needs the score now
    path = write_jsonl(data_root / "datasets" / "train.jsonl", sft_rows(30))
    first = services.get_or_register_by_path("datasets/train.jsonl", user)
    assert first.status == "ready" and first.quality_score == 100.0
    assert services.get_or_register_by_path("datasets/train.jsonl", user).pk == first.pk
    write_jsonl(path, poor_rows(30))
    again = services.get_or_register_by_path("datasets/train.jsonl", user)
    assert again.pk == first.pk and again.sha256 != first.sha256
    assert again.num_examples == 40 and again.quality_score < 85
    assert Dataset.objects.count() == 1


def test_quality_gate_refuses_below_threshold_names_score_and_checks_and_honours_override(
    data_root, user, settings
):
    write_jsonl(data_root / "datasets" / "dups.jsonl", poor_rows(30))
    ds = services.register_dataset_file("datasets/dups.jsonl", user=user)
    assert ds.quality_score < 85 and ds.band == "poor"
    with pytest.raises(ServiceError) as exc:
        services.check_quality_gate(ds, override=False)
    message = exc.value.message
    assert f"scores {ds.quality_score:g} (Poor)" in message and "quality gate of 85" in message
    assert "Exact duplicates (10 of 40)" in message
    assert exc.value.details["failing_checks"][0] == "exact_duplicates"
    assert exc.value.details["threshold"] == 85
    services.check_quality_gate(ds, override=True)  # the explicit override passes
    settings.RMN_QUALITY_GATE = 50
    services.check_quality_gate(ds, override=False)  # the threshold is configurable


def test_quality_gate_on_datasets_without_a_score(data_root, user):
    write_jsonl(data_root / "datasets" / "big.jsonl", sft_rows(5))
    ds = services.register_dataset_file("datasets/big.jsonl", user=user, background=True)
    assert ds.status == "pending" and ds.quality_score is None
    with pytest.raises(ServiceError, match="no quality score yet"):
        services.check_quality_gate(ds, override=False)
    services.check_quality_gate(ds, override=True)
    Dataset.objects.filter(pk=ds.pk).update(status="failed", status_reason="Line 3 is not valid UTF-8")
    ds.refresh_from_db()
    with pytest.raises(ServiceError, match="failed validation: Line 3"):
        services.check_quality_gate(ds, override=True)


def _job(ds, status):
    from training.models import FoundationModel, TrainingJob

    base = FoundationModel.objects.create(name=f"tiny-{status}", source="models/tiny", family="llama")
    return TrainingJob.objects.create(
        adapter_type="task",
        adapter_name=f"job_{status}",
        base_model=base,
        training_type="sft",
        dataset_path=ds.path,
        dataset_sha256=ds.sha256,
        status=status,
    )


def test_delete_is_staff_only_removes_file_and_jobs_keep_path_and_sha(
    data_root, user, staff_user, django_capture_on_commit_callbacks
):
    path = write_jsonl(data_root / "datasets" / "old.jsonl", sft_rows(5))
    ds = services.register_dataset_file("datasets/old.jsonl", user=user)
    job = _job(ds, "completed")
    with pytest.raises(Forbidden):
        services.delete_dataset(ds, user=user)
    assert path.exists()
    sha = ds.sha256
    with django_capture_on_commit_callbacks(execute=True):
        services.delete_dataset(ds, user=staff_user)
    assert not path.exists()
    assert not Dataset.objects.filter(pk=ds.pk).exists()
    job.refresh_from_db()
    assert (job.dataset_path, job.dataset_sha256) == ("datasets/old.jsonl", sha)
    event = AuditEvent.objects.get(action="dataset.delete")
    assert event.details["sha256"] == sha and event.actor == staff_user


def test_delete_refuses_while_a_training_job_is_active(data_root, staff_user):
    write_jsonl(data_root / "datasets" / "busy.jsonl", sft_rows(5))
    ds = services.register_dataset_file("datasets/busy.jsonl", user=staff_user)
    job = _job(ds, "running")
    with pytest.raises(Conflict, match=f"training job\\(s\\) {job.pk}"):
        services.delete_dataset(ds, user=staff_user)
    assert Dataset.objects.filter(pk=ds.pk).exists()


def test_upload_stores_under_datasets_and_refused_uploads_leave_nothing(data_root, user):
    body = b"".join((__import__("json").dumps(r) + "\n").encode() for r in sft_rows(10))
    ds = services.save_upload(
        SimpleUploadedFile("My Data.jsonl", body), name=None, dataset_type="sft", user=user
    )
    assert ds.name == "My Data" and ds.path == "datasets/my-data.jsonl"
    assert (data_root / ds.path).read_bytes() == body
    again = services.save_upload(SimpleUploadedFile("My Data.jsonl", body), user=user)
    assert again.path == "datasets/my-data-2.jsonl" and again.version == 2
    before = sorted(p.name for p in (data_root / "datasets").iterdir())
    for bad, message in [
        (SimpleUploadedFile("x.csv", b"a,b\n"), "Only .jsonl"),
        (SimpleUploadedFile("x.jsonl", b""), "empty"),
        (SimpleUploadedFile("x.jsonl", b"\xff\xfe\n"), "Line 1 is not valid UTF-8"),
        (SimpleUploadedFile("x.jsonl", b"plain text\nmore text\n"), "line 1 is not valid JSON"),
    ]:
        with pytest.raises(ServiceError, match=message):
            services.save_upload(bad, user=user)
    assert sorted(p.name for p in (data_root / "datasets").iterdir()) == before
    assert Dataset.objects.count() == 2


def test_revalidate_with_a_base_model_tokenizer_flags_long_examples(data_root, user, tiny_base_models):
    rows = sft_rows(10)
    rows[2]["messages"][1]["content"] = " ".join(["budget"] * 2000)
    write_jsonl(data_root / "datasets" / "long.jsonl", rows)
    ds = services.register_dataset_file("datasets/long.jsonl", user=user)
    assert "max_seq_len" not in ds.report["checks"]
    ds = services.validate_dataset(ds, user=user, base_model="tiny-llama", max_seq_len=1000)
    check = ds.report["checks"]["max_seq_len"]
    assert (check["count"], check["examples"]) == (1, [3])
    assert ds.report["validated_with"] == {"base_model": "tiny-llama", "max_seq_len": 1000}
    with pytest.raises(ServiceError, match="Unknown base model"):
        services.validate_dataset(ds, user=user, base_model="nope", max_seq_len=10)
