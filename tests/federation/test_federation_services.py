"""Federation use cases against PostgreSQL: validation up front, gate jobs, config export / import, metrics."""

from __future__ import annotations

import pytest

from federation import config_io, gates, runs, services
from federation import performance as metrics
from federation.models import Federation, GateTraining, InferenceRun
from federation.services import MemberInput
from rmnconsole.core.errors import Conflict, Forbidden, ServiceError

pytestmark = pytest.mark.django_db


def test_additive_federation_is_ready_with_ordered_members(fed, make_federation):
    federation = make_federation("additive", weights=(0.5, 1.5))
    assert federation.status == Federation.Status.READY and federation.version == 1
    assert [(m.adapter.name, m.role, m.weight) for m in federation.ordered_members()] == [
        ("amazon_schema", "retailer", 0.5),
        ("planning", "task", 1.5),
    ]
    assert federation.options["combination"] == "cat"


def test_base_model_mismatch_names_the_adapter_and_both_bases(fed):
    with pytest.raises(ServiceError) as caught:
        services.create_federation(
            name="mixed",
            base_model=fed.llama,
            method="additive",
            members=[MemberInput(fed.retailer), MemberInput(fed.foreign)],
        )
    message = caught.value.message
    assert "mistral_creative v1" in message and "tiny-mistral" in message and "tiny-llama" in message
    assert not Federation.objects.filter(name="mixed").exists()


@pytest.mark.parametrize(
    ("method", "members", "options", "expected"),
    [
        ("additive", [], {}, "at least one adapter"),
        ("gated", ["retailer"], {}, "at least two adapters"),
        ("additive", ["retailer", "retailer"], {}, "selected twice"),
        ("additive", ["retailer", "nope"], {}, "Unknown adapter 'nope'"),
        ("additive", ["retailer"], {"combination": "bogus"}, "not one of"),
        ("additive", ["retailer"], {"density": 0}, "Density"),
        ("blend", ["retailer"], {}, "Method 'blend'"),
    ],
)
def test_bad_compositions_are_refused_before_saving(fed, method, members, options, expected):
    lookup = {"retailer": fed.retailer, "task": fed.task}
    items = [MemberInput(lookup.get(m, m)) for m in members]
    with pytest.raises(ServiceError, match=expected):
        services.create_federation(
            name="bad", base_model=fed.llama, members=items, method=method, options=options
        )
    assert not Federation.objects.exists()


def test_weights_templates_and_names_are_checked(fed, make_federation):
    with pytest.raises(ServiceError, match="non-zero"):
        make_federation(weights=(0.0, 1.0))
    with pytest.raises(ServiceError, match=r"unknown placeholders \['retailer'\]"):
        make_federation(
            "sequential", members=[MemberInput(fed.retailer, prompt_template="{retailer} {input}")]
        )
    make_federation(name="taken")
    with pytest.raises(Conflict, match="already exists"):
        make_federation(name="taken")


def test_adapters_resolve_by_name_label_and_version(fed):
    assert services.resolve_adapter("amazon_schema") == fed.retailer
    assert services.resolve_adapter("amazon_schema v1") == fed.retailer
    assert services.resolve_adapter("planning", 1) == fed.task
    with pytest.raises(ServiceError, match="Unknown adapter 'planning v7'"):
        services.resolve_adapter("planning", 7)


def test_gated_federation_starts_as_draft_with_a_queued_gate_job(
    fed, make_federation, django_capture_on_commit_callbacks
):
    import django_rq

    with django_capture_on_commit_callbacks(execute=True):
        federation = make_federation("gated", gate_steps=5)
    assert federation.status == Federation.Status.DRAFT
    training = GateTraining.objects.get(federation=federation)
    assert training.total_steps == 5 and training.federation_version == 1
    assert sorted(training.dataset_paths) == sorted(
        [fed.retailer.training_dataset_path, fed.task.training_dataset_path]
    )
    job = django_rq.get_queue("training").fetch_job(training.rq_job_id)
    assert job is not None and job.args == (training.pk,) and job.func_name == "federation.tasks.train_gate"
    with pytest.raises(Conflict, match="already queued or running"):
        gates.start_gate_training(federation)
    with pytest.raises(Conflict, match="draft, not ready"):
        runs.submit_inference(federation, "hello")


def test_gate_needs_training_data(fed, make_federation):
    type(fed.retailer).objects.update(training_dataset_path="")
    with pytest.raises(ServiceError, match="No training data for the gate"):
        make_federation("gated")
    with pytest.raises(ServiceError, match="outside"):
        make_federation("gated", gate_dataset_path="../../etc/passwd")


def test_config_export_import_round_trip(fed, make_federation):
    original = make_federation(
        "additive", name="amazon-planning", weights=(0.5, 2.0), combination="svd", svd_rank=4
    )
    exported = config_io.export_config(original)
    assert exported["format"] == "rmn-federation" and exported["members"][0]["sha256"] == fed.retailer.sha256
    with pytest.raises(Conflict):
        config_io.import_config(exported)
    copy = config_io.import_config(exported, name="amazon-planning-copy")
    assert copy.method == original.method and copy.options == original.options
    assert [(m.adapter_id, m.weight, m.role) for m in copy.ordered_members()] == [
        (m.adapter_id, m.weight, m.role) for m in original.ordered_members()
    ]
    tampered = {**exported, "members": [{**exported["members"][0], "sha256": "0" * 64}]}
    with pytest.raises(ServiceError, match="different weights"):
        config_io.import_config(tampered, name="other")
    with pytest.raises(ServiceError, match="Not a federation config"):
        config_io.import_config({"name": "x"})


def test_gated_config_carries_its_trained_gate_so_import_needs_no_retraining(fed, make_federation):
    import base64

    from federation import tasks
    from federation.engine import runtime
    from rmnconsole.core.paths import data_root

    original = make_federation("gated", name="routed", gate_steps=3)
    tasks.train_gate(original.gate_trainings.get().pk)
    original.refresh_from_db()
    exported = config_io.export_config(original)
    gate_bytes = (data_root() / original.gate_path).read_bytes()
    assert base64.b64decode(exported["gate"]["safetensors_base64"]) == gate_bytes

    copy = config_io.import_config(exported, name="routed-copy")
    assert copy.status == Federation.Status.READY and "gate imported" in copy.status_reason
    assert not GateTraining.objects.filter(federation=copy).exists()  # nothing to retrain
    assert (data_root() / copy.gate_path).read_bytes() == gate_bytes
    # The imported gate loads strictly into the composed model and routes exactly like the original.
    a = runtime.build(services.composition_spec(original), "cpu")
    b = runtime.build(services.composition_spec(copy), "cpu")
    assert a.logits("Map adType=sp to RMIS").allclose(b.logits("Map adType=sp to RMIS"), atol=1e-6)

    altered = {**exported, "gate": {**exported["gate"], "sha256": "0" * 64}}
    with pytest.raises(ServiceError, match="does not match its sha256"):
        config_io.import_config(altered, name="routed-altered")
    junk = {"safetensors_base64": base64.b64encode(b"not safetensors").decode()}
    with pytest.raises(ServiceError, match="not valid safetensors"):
        config_io.import_config({**exported, "gate": junk}, name="routed-junk")
    with pytest.raises(ServiceError, match="not valid base64"):
        config_io.import_config({**exported, "gate": {"safetensors_base64": "%%%"}}, name="routed-b64")
    with pytest.raises(ServiceError, match="Only gated federations carry a gate"):
        config_io.import_config({**exported, "method": "additive", "options": {}}, name="routed-additive")
    assert not Federation.objects.filter(name__startswith="routed-").exclude(name="routed-copy").exists()


def test_metrics_sizes_and_latency_percentiles(fed, make_federation):
    federation = make_federation()
    for latency in (100.0, 200.0, 300.0, 400.0):
        InferenceRun.objects.create(
            federation=federation,
            prompt="p",
            status="completed",
            latency_ms=latency,
            generated_tokens=10,
            cache_hit=latency > 100,
        )
    InferenceRun.objects.create(federation=federation, prompt="p", status="failed")
    numbers = metrics.federation_metrics(federation)
    assert numbers["adapter_bytes"] == fed.retailer.size_bytes + fed.task.size_bytes
    assert numbers["base_bytes"] > numbers["adapter_bytes"] > 0
    assert numbers["total_bytes"] == numbers["base_bytes"] + numbers["adapter_bytes"]
    assert numbers["overhead_pct"] == pytest.approx(100 * numbers["adapter_bytes"] / numbers["base_bytes"])
    assert (numbers["runs"], numbers["tokens_generated"], numbers["cache_hits"]) == (4, 40, 3)
    assert numbers["latency_p50_ms"] == 250.0 and numbers["latency_p95_ms"] == pytest.approx(385.0)


def test_inference_params_are_validated(make_federation):
    federation = make_federation()
    for kwargs, field in (
        ({"max_new_tokens": 0}, "max_new_tokens"),
        ({"temperature": 3}, "temperature"),
        ({"seed": -1}, "seed"),
    ):
        with pytest.raises(ServiceError) as caught:
            runs.submit_inference(federation, "hi", **kwargs)
        assert caught.value.field == field
    with pytest.raises(ServiceError, match="Enter a test prompt"):
        runs.submit_inference(federation, "   ")


def test_only_admins_delete_and_clear_the_cache(make_federation, user, staff_user):
    federation = make_federation()
    with pytest.raises(Forbidden):
        services.delete_federation(federation, user)
    with pytest.raises(Forbidden):
        runs.request_cache_clear(user)
    services.delete_federation(federation, staff_user)
    assert not Federation.objects.exists()


def test_cancelled_gate_training_never_runs(make_federation):
    from federation import tasks

    federation = make_federation("gated", gate_steps=5)
    training = GateTraining.objects.get(federation=federation)
    assert gates.cancel_gate_training(training)
    tasks.train_gate(training.pk)  # a worker picking the job up later must not train
    training.refresh_from_db()
    federation.refresh_from_db()
    assert training.status == "cancelled" and training.started_at is None
    assert federation.status == Federation.Status.FAILED and "cancelled" in federation.status_reason
    with pytest.raises(Conflict, match="already finished"):
        gates.cancel_gate_training(training)


def test_a_silent_gate_worker_is_ended_by_recovery(make_federation, settings):
    from datetime import timedelta

    from django.utils import timezone

    federation = make_federation("gated")
    training = GateTraining.objects.get(federation=federation)
    stale = timezone.now() - timedelta(seconds=settings.RMN_HEARTBEAT_STALE_SECONDS + 5)
    GateTraining.objects.filter(pk=training.pk).update(status="running", heartbeat_at=stale)
    from rmnconsole.core.recovery import recover_all

    assert recover_all()["gate training"]["failed"] == 1
    training.refresh_from_db()
    federation.refresh_from_db()
    assert training.status == "failed" and "no heartbeat" in training.status_reason
    assert federation.status == "failed"
    gates.start_gate_training(federation)  # a retrain is allowed again
