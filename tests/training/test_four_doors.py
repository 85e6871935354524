"""One behaviour, four doors: the page, the API, manage.py and the Python facade submit training work through the
same services, so each door queues the same job and refuses with the same message."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from rmnconsole.core.errors import ServiceError
from rmnconsole.models import ApiToken
from tests.datasets_app.dataset_helpers import poor_rows
from training.engine.config import PARAMS, TrainingConfig
from training.models import TrainingJob

pytestmark = pytest.mark.django_db

SPEC = {"adapter_type": "retailer", "adapter_name": "amazon_v2", "config": {"lora_r": 16, "max_steps": 5}}


@dataclass
class Outcome:
    job_ids: list[int] = field(default_factory=list)
    refusal: str = ""


def _page_form(spec: dict) -> dict:
    # The page sends every parameter it shows: the defaults, with the spec's values typed over them.
    form = {k: spec[k] for k in ("adapter_type", "adapter_name", "dataset_path")} | {"training_type": "sft"}
    for name, param in PARAMS.items():
        value = spec["config"].get(name, TrainingConfig().to_dict()[name])
        if param.kind is bool:
            if value:
                form[name] = "on"
        elif param.kind is list:
            form[name] = ", ".join(value)
        elif value is not None:
            form[name] = str(value)
    return form


def submit_job(door: str, client, user, spec: dict, tmp_path) -> Outcome:
    if door == "page":
        client.force_login(user)
        response = client.post("/training/new/", _page_form(spec))
        if response.status_code == 302:
            return Outcome(job_ids=[int(response["Location"].rstrip("/").rsplit("/", 1)[1])])
        errors = response.context["form"].errors
        return Outcome(refusal=" ".join(m for messages in errors.values() for m in messages))
    if door == "api":
        _, raw = ApiToken.issue(user)
        response = client.post(
            "/api/training/jobs", spec, content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {raw}"
        )
        return (
            Outcome(job_ids=[response.json()["id"]])
            if response.status_code == 201
            else Outcome(refusal=response.json()["detail"])
        )
    if door == "manage.py":
        return submit_batch(door, client, user, [spec], tmp_path)
    from rmnconsole import console

    try:
        return Outcome(job_ids=[console.submit_training_job(user=user, **spec)])
    except ServiceError as exc:
        return Outcome(refusal=exc.message)


def submit_batch(door: str, client, user, jobs: list[dict], tmp_path) -> Outcome:
    if door == "api":
        _, raw = ApiToken.issue(user)
        response = client.post(
            "/api/training/jobs/batch",
            {"jobs": jobs},
            content_type="application/json",
            HTTP_AUTHORIZATION=f"Bearer {raw}",
        )
        if response.status_code == 201:
            return Outcome(job_ids=[j["id"] for j in response.json()])
        return Outcome(refusal=response.json()["detail"])
    if door == "manage.py":
        batch = tmp_path / "batch.json"
        batch.write_text(json.dumps(jobs))
        out = StringIO()
        try:
            call_command("train_batch", str(batch), "--user", user.username, stdout=out)
        except CommandError as exc:
            return Outcome(refusal=str(exc))
        return Outcome(job_ids=[int(line.split()[2]) for line in out.getvalue().splitlines()])
    from rmnconsole import console

    try:
        return Outcome(job_ids=console.submit_training_batch(jobs, user=user))
    except ServiceError as exc:
        return Outcome(refusal=exc.message)


@pytest.mark.parametrize("door", ["page", "api", "manage.py", "facade"])
def test_submit_training_job_queues_the_same_job_through_every_door(
    door, client, user, tiny_llama, write_dataset, rows, tmp_path
):
    path = write_dataset("amazon.jsonl", rows.messages(12))
    outcome = submit_job(door, client, user, {**SPEC, "dataset_path": path}, tmp_path)
    assert outcome.refusal == ""
    job = TrainingJob.objects.get()
    assert outcome.job_ids == [job.pk]
    assert (job.adapter_name, job.adapter_type, job.training_type, job.status) == (
        "amazon_v2",
        "retailer",
        "sft",
        "queued",
    )
    assert (job.dataset_path, job.dataset.path, job.base_model.name, job.created_by) == (
        path,
        path,
        "tiny-llama",
        user,
    )
    assert (job.config["lora_r"], job.config["max_steps"], job.total_steps) == (16, 5, 5)


@pytest.mark.parametrize("door", ["page", "api", "manage.py", "facade"])
def test_a_dataset_below_the_quality_gate_is_refused_through_every_door(
    door, client, user, tiny_llama, write_dataset, tmp_path
):
    path = write_dataset("dups.jsonl", poor_rows(30))
    outcome = submit_job(door, client, user, {**SPEC, "dataset_path": path}, tmp_path)
    assert outcome.job_ids == []
    assert "below the quality gate of 85" in outcome.refusal
    assert "Exact duplicates (10 of 40)" in outcome.refusal
    assert "override the gate explicitly" in outcome.refusal
    assert not TrainingJob.objects.exists()


BATCH = [
    {"name": "amazon_v2", "dataset": "datasets/amazon.jsonl", "max_steps": 5},
    {"name": "walmart_v2", "dataset": "datasets/walmart.jsonl", "max_steps": 5},
]


@pytest.mark.parametrize("door", ["api", "manage.py", "facade"])  # the console has no batch page
def test_submit_batch_is_all_or_nothing_through_every_door(
    door, client, user, tiny_llama, write_dataset, rows, tmp_path
):
    write_dataset("amazon.jsonl", rows.messages(12))
    refused = submit_batch(door, client, user, BATCH, tmp_path)
    assert refused.job_ids == [] and not TrainingJob.objects.exists()
    assert (
        "1 of 2 jobs are invalid, none queued: job 2 (walmart_v2): Dataset file datasets/walmart.jsonl"
        in (refused.refusal)
    )
    write_dataset("walmart.jsonl", rows.prompt_completion(12))
    queued = submit_batch(door, client, user, BATCH, tmp_path)
    jobs = list(TrainingJob.objects.order_by("pk"))
    assert queued.refusal == "" and queued.job_ids == [j.pk for j in jobs]
    assert [(j.adapter_name, j.dataset_path, j.total_steps, j.created_by) for j in jobs] == [
        ("amazon_v2", "datasets/amazon.jsonl", 5, user),
        ("walmart_v2", "datasets/walmart.jsonl", 5, user),
    ]
