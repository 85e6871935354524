"""Pipelines at the service level, job functions run inline: the watched folder (stable files, same data once),
bad settings refused, two triggers → one queued run, a bad batch held then approved (lineage recorded), a worker
killed mid-step then retried, and the cron schedule on a controlled clock."""

from __future__ import annotations

import datetime as dt
import io
import shutil
import socket

import pytest
from django.core.management import call_command
from django.utils import timezone

from federation.evaluation.suites import create_suite
from federation.pipelines import services, triggers
from federation.pipelines.models import DatasetLineage, PipelineRun, PipelineStep
from federation.pipelines.tasks import run_step
from federation.serving import services as serving
from rmnconsole.core import providers
from rmnconsole.core.errors import NotFound, ServiceError
from tests.federation.conftest import RETAILER_ANSWER, TASK_ANSWER, retailer_conversations, write_jsonl
from tests.federation.pipeline_helpers import FAST, drive, drop_alpha

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def alpha_mapping(staff_user):
    from datasets_app.mappings.demo import seed_demo
    from datasets_app.models import SchemaMapping

    seed_demo(rows=400, user=staff_user)
    return SchemaMapping.objects.get(name="alpha_events_to_rmis", status="active")


def retailer_suite():
    cases = [
        {"prompt": c[0]["content"], "reference": RETAILER_ANSWER} for c in retailer_conversations(6, seed=9)
    ]
    return create_suite(name="retailer-check", cases=cases, metrics=[{"name": "token_f1"}], max_new_tokens=24)


def test_watched_folder_waits_for_stable_files_and_never_retrains_the_same_data(
    staff_user, tiny_base_models, alpha_mapping, data_root, client
):
    suite = create_suite(name="alpha-smoke", cases=[{"prompt": "x", "reference": "y"}])
    serving.create_deployment("alpha-rmis", staff_user)
    (data_root / "incoming" / "alpha").mkdir(parents=True)
    common = dict(suite=suite.pk, deployment="alpha-rmis", adapter_name="alpha_auto", base_model="tiny-llama",
                  mapping=alpha_mapping.pk, examples_per_file=40, training_config=FAST)  # fmt: skip

    # Bad settings: each refused with the field at fault, nothing saved.
    for bad, field in [
        ({"watch_path": "../elsewhere"}, "watch_path"),
        ({"watch_path": "/etc"}, "watch_path"),
        ({"watch_path": "incoming/none"}, "watch_path"),
        ({"watch_path": "incoming/alpha", "schedule": "every day"}, "schedule"),
        ({"watch_path": "incoming/alpha", "suite": "no-such-suite"}, "suite"),
        ({"watch_path": "incoming/alpha", "deployment": "no-such-deployment"}, "deployment"),
    ]:
        with pytest.raises(ServiceError) as refused:
            services.create_pipeline("alpha", staff_user, **{**common, **bad})
        assert refused.value.field == field, refused.value.message
        assert "/work" not in refused.value.message and str(data_root) not in refused.value.message
    with pytest.raises(ServiceError):
        services.create_pipeline("alpha", None, watch_path="incoming/alpha", **common)  # not staff
    pipeline = services.create_pipeline("alpha", staff_user, watch_path="incoming/alpha", **common)

    # A file still being written (mtime just now) is left for a later check; once stable it triggers one run.
    now = timezone.now()
    drop_alpha(data_root / "incoming" / "alpha", "day1.csv", age=0)
    assert triggers.tick(now)["watch_runs"] == 0
    assert triggers.tick(now + dt.timedelta(seconds=30))["watch_runs"] == 1
    run = PipelineRun.objects.get()
    assert run.trigger == "watch" and run.status == "running"
    assert run.source_files[0]["path"] == "incoming/alpha/day1.csv"

    # The same content under another name never retrains.
    shutil.copy(
        data_root / "incoming" / "alpha" / "day1.csv", data_root / "incoming" / "alpha" / "day1-again.csv"
    )
    assert triggers.tick(now + dt.timedelta(seconds=60))["watch_runs"] == 0

    # A trigger before the run's build has read the data joins that run.
    assert services.trigger_run(pipeline, user=staff_user).pk == run.pk

    # Build → a dataset version with its lineage; validate passes the gate; train is waiting on its job.
    build = PipelineStep.objects.get(run=run, kind="build")
    assert run_step(build.pk) == "completed", PipelineStep.objects.get(pk=build.pk).status_reason

    # Two triggers while it runs: one run queued behind it, not two.
    queued = [services.trigger_run(pipeline, user=staff_user) for _ in range(2)]
    assert queued[0].pk == queued[1].pk and queued[0].status == "waiting"
    assert PipelineRun.objects.count() == 2
    run.refresh_from_db()
    lineage = DatasetLineage.objects.get(dataset=run.dataset)
    assert (
        run.dataset.version == 1
        and lineage.rows == 40
        and lineage.rows_added == 40
        and lineage.rows_removed == 0
    )
    assert [f["path"] for f in lineage.source_files] == [
        "incoming/alpha/day1.csv"
    ]  # its copy is the same data
    assert lineage.mapping_id == alpha_mapping.pk and lineage.mapping_version == alpha_mapping.version
    assert run_step(PipelineStep.objects.get(run=run, kind="validate").pk) == "completed"
    assert run_step(PipelineStep.objects.get(run=run, kind="train").pk) == "waiting"

    # Cancel stops the running step and its training job; the queued run starts.
    services.cancel_run(run, staff_user)
    run.refresh_from_db()
    assert run.status == "cancelled" and run.training_job.status == "cancelled"
    assert PipelineStep.objects.get(run=run, kind="train").status == "cancelled"
    queued[0].refresh_from_db()
    assert queued[0].status == "running"

    # The second version: new data added → rows added counted against version 1.
    drop_alpha(data_root / "incoming" / "alpha", "day2.csv", seed=12)
    assert run_step(PipelineStep.objects.get(run=queued[0], kind="build").pk) == "completed"
    queued[0].refresh_from_db()
    second = DatasetLineage.objects.get(dataset=queued[0].dataset)
    assert queued[0].dataset.version == 2 and second.previous_id == run.dataset_id
    assert (second.rows, second.rows_added, second.rows_removed) == (80, 40, 0)

    # The dataset page names the version's lineage; the diff page shows the rows version 2 added.
    client.force_login(staff_user)
    page = client.get(f"/datasets/library/{queued[0].dataset_id}/").content.decode()
    assert 'id="dataset-version-lineage"' in page and "+40 / −0 vs alpha_data v1" in page
    diff = client.get(f"/federation/pipelines/datasets/{queued[0].dataset_id}/").content.decode()
    assert "Added (40)" in diff and "Removed (0)" in diff and diff.count("+ {") == 20


def test_a_bad_batch_is_held_production_stays_and_approval_promotes_with_lineage(
    fed, staff_user, data_root, settings, client
):
    from datasets_app.library.services import register_dataset_file

    settings.RMN_QUALITY_GATE = 0  # shuffled labels are well-formed: the eval gate is what must catch them
    suite = retailer_suite()
    deployment = serving.create_deployment("amazon-rmis", staff_user, adapter=fed.retailer.pk)
    bad = [[c[0], {"role": "assistant", "content": TASK_ANSWER}] for c in retailer_conversations(48, seed=5)]
    path = write_jsonl(data_root / "datasets" / "retail_batch.jsonl", bad)
    register_dataset_file(path, name="retail_batch", dataset_type="sft")
    pipeline = services.create_pipeline(
        "retail", staff_user, suite=suite, deployment=deployment, adapter_name="amazon_schema", base_model="tiny-llama",
        dataset_name="retail_batch", training_config={**FAST, "max_steps": 8, "learning_rate": 0.01},
        continue_from_production=True,
    )  # fmt: skip

    run = drive(services.trigger_run(pipeline, user=staff_user))
    assert run.status == "held", (
        run.status,
        run.status_reason,
        [(s.kind, s.status, s.status_reason) for s in run.steps.all()],
    )
    assert run.decision == "hold" and run.comparison["candidate"] < run.comparison["production"]
    assert run.production_target["id"] == fed.retailer.pk
    train = PipelineStep.objects.get(run=run, kind="train")
    assert (
        train.detail["start"] == f"continuing from {fed.retailer.label}"
        and run.training_job.init_adapter == fed.retailer
    )
    assert (run.candidate.rank, run.candidate.target_modules) == (
        fed.retailer.rank,
        fed.retailer.target_modules,
    )
    assert deployment.stage("production").adapter_id == fed.retailer.pk, "production keeps the old adapter"

    client.force_login(staff_user)
    page = client.get(f"/federation/pipelines/runs/{run.pk}/approval/").content.decode()
    assert 'id="approval-figures"' in page and page.count("<tr") >= 1 + len(suite.cases.all())
    with pytest.raises(ServiceError):
        services.approve_run(run, None)
    services.approve_run(run, staff_user)
    run.refresh_from_db()
    assert run.status == "completed" and run.decided_by == staff_user
    assert deployment.stage("production").adapter_id == run.candidate_id
    assert run.deployment_event.action == "pipeline"
    rows = {r["label"]: r["value"] for r in providers.lineage("adapter", run.candidate)}
    assert rows["Dataset version"] == run.dataset.label and rows["Training job"] == f"#{run.training_job_id}"
    assert "approved a held candidate" in rows["Approved by"]
    assert providers.lineage("deployment", deployment)[0]["adapter"] == run.candidate.label


def test_worker_killed_mid_step_fails_it_and_retry_resumes_there(staff_user, tiny_base_models, data_root):
    from datasets_app.library.services import register_dataset_file
    from rmnconsole.core.recovery import recover_all

    good = [[c[0], {"role": "assistant", "content": RETAILER_ANSWER}] for c in retailer_conversations(32)]
    register_dataset_file(write_jsonl(data_root / "datasets" / "nightly.jsonl", good), name="nightly")
    pipeline = services.create_pipeline(
        "nightly", staff_user, suite=retailer_suite(), deployment=serving.create_deployment("n", staff_user),
        adapter_name="nightly", base_model="tiny-llama", dataset_name="nightly", schedule="0 3 * * *",
    )  # fmt: skip
    with pytest.raises(NotFound):
        services.get_pipeline("missing")

    # The schedule on a controlled clock: nothing before 03:00, one run at 03:00, none again until tomorrow.
    due = pipeline.next_run_at
    assert (due.hour, due.minute) == (3, 0)
    assert triggers.tick(due - dt.timedelta(minutes=1))["scheduled_runs"] == 0
    assert triggers.tick(due)["scheduled_runs"] == 1
    assert triggers.tick(due + dt.timedelta(minutes=1))["scheduled_runs"] == 0
    pipeline.refresh_from_db()
    assert pipeline.next_run_at == due + dt.timedelta(days=1)
    run = PipelineRun.objects.get(pipeline=pipeline)
    assert run.trigger == "schedule"

    # A worker that died while it ran the build step: recovery fails the step and the run, with the reason.
    build = PipelineStep.objects.get(run=run, kind="build")
    assert build.claim(f"{socket.gethostname()}:999999")
    recover_all(grace_seconds=0)
    build.refresh_from_db()
    run.refresh_from_db()
    assert build.status == "failed" and "Worker lost" in build.status_reason
    assert run.status == "failed" and run.status_reason.startswith("build: Worker lost")

    # Retry resumes from the failed step (a new attempt), and the chain goes on from there.
    services.retry_run(run, staff_user)
    retried = PipelineStep.objects.get(run=run, kind="build", attempt=2)
    assert run_step(retried.pk) == "completed"
    run.refresh_from_db()
    assert run.status == "running" and run.dataset.name == "nightly"
    assert PipelineStep.objects.filter(run=run, kind="validate", status="queued").exists()
    with pytest.raises(ServiceError):
        services.retry_run(run, staff_user)  # only a failed run

    # `manage.py pipeline run NAME --wait` with no worker listening: the whole chain runs in this process, and
    # with no production target yet the candidate is deployed.
    services.cancel_run(run, staff_user)
    out = io.StringIO()
    call_command("pipeline", "run", "nightly", "--wait", "--poll", "0.1", stdout=out)
    second = PipelineRun.objects.get(pipeline=pipeline, number=2)
    assert second.status == "completed" and second.decision == "promote", out.getvalue()
    assert "running the pipeline in this process" in out.getvalue() and "run 2 completed" in out.getvalue()
    assert pipeline.deployment.stage("production").adapter_id == second.candidate_id


def test_two_triggers_at_the_same_moment_make_one_run(staff_user, tiny_base_models, data_root):
    from concurrent.futures import ThreadPoolExecutor

    from django.db import connection

    from datasets_app.library.services import register_dataset_file

    good = [[c[0], {"role": "assistant", "content": RETAILER_ANSWER}] for c in retailer_conversations(16)]
    register_dataset_file(write_jsonl(data_root / "datasets" / "race.jsonl", good), name="race")
    pipeline = services.create_pipeline(
        "race", staff_user, suite=retailer_suite(), deployment=serving.create_deployment("race", staff_user),
        adapter_name="race", base_model="tiny-llama", dataset_name="race",
    )  # fmt: skip

    def trigger(_):
        try:
            return services.trigger_run(pipeline.pk).pk
        finally:
            connection.close()

    with ThreadPoolExecutor(4) as pool:
        ids = set(pool.map(trigger, range(4)))
    assert len(ids) == 1 and PipelineRun.objects.filter(pipeline=pipeline).count() == 1
    assert PipelineStep.objects.filter(run_id=ids.pop()).count() == 1
