"""Federated learning's four doors and its refusals, without a Flower run (fast): bad input is refused with a
clear reason at every door; an unreachable SuperLink is a clear failure (pages, API, CLI and the horse)."""

from __future__ import annotations

import json

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from rmnconsole.core.errors import ServiceError
from tests.support.ports import free_port


@pytest.fixture
def no_superlink(settings):
    settings.RMN_FLOWER_SUPERLINK = f"127.0.0.1:{free_port()}"
    settings.RMN_FLOWER_INSECURE = True
    return settings.RMN_FLOWER_SUPERLINK


@pytest.fixture
def silos(db):
    from training.federated.models import Silo

    return [
        Silo.objects.create(
            name=n,
            retailer=n,
            supernode_host="10.0.0.1",
            node_config={"dataset-path": "/d.jsonl"},
            public_key="k",
            node_id=str(1000 + i),
        )
        for i, n in enumerate(("alpha", "beta", "gamma"))
    ]


def test_node_config_must_name_a_dataset_and_parse():
    from training.federated.services import parse_node_config

    assert parse_node_config('dataset-path="/srv/a b.jsonl" silo-name="x"') == {
        "dataset-path": "/srv/a b.jsonl",
        "silo-name": "x",
    }
    assert parse_node_config('{"dataset-path": "/d.jsonl"}') == {"dataset-path": "/d.jsonl"}
    for bad in ("", 'silo-name="x"', "dataset-path", '{"dataset-path": ', 'dataset-path="/a\x00"'):
        with pytest.raises(ServiceError) as err:
            parse_node_config(bad)
        assert err.value.field == "node_config"


@pytest.mark.django_db
def test_register_silo_refuses_bad_keys_and_an_unreachable_superlink(no_superlink):
    from training.federated import services
    from training.federated.engine.loopback import write_node_key
    from training.federated.models import Silo

    with pytest.raises(ServiceError) as err:
        services.register_silo(
            "a", retailer="r", supernode_host="h", node_config='dataset-path="/d"', public_key="x"
        )
    assert err.value.field == "public_key" and "OpenSSH" in err.value.message
    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory() as tmp:
        _, public = write_node_key(Path(tmp))
        with pytest.raises(ServiceError) as err:
            services.register_silo(
                "a",
                retailer="r",
                supernode_host="h",
                node_config='dataset-path="/d"',
                public_key=public.read_text(),
            )
    assert "unreachable" in err.value.message
    assert not Silo.objects.exists()  # nothing half-written


def test_submit_validates_up_front(silos, tiny_llama):
    from training.federated import services
    from training.federated.models import FederatedTrainingJob

    base = {"adapter_name": "fed", "base_model": tiny_llama.name, "silos": ["alpha", "beta"]}
    cases = [
        ({"min_silos": 3}, "min_silos"),
        ({"silos": []}, "silos"),
        ({"silos": ["nope"]}, None),
        ({"num_rounds": 0}, "num_rounds"),
        ({"strategy": "fedprox", "proximal_mu": 0}, "proximal_mu"),
        ({"server_learning_rate": 0}, "server_learning_rate"),
        ({"strategy": "fedprox", "proximal_mu": 0.1, "server_learning_rate": 3.0}, "server_learning_rate"),
        ({"privacy": "client-fixed", "dp_noise_multiplier": 0}, "dp_noise_multiplier"),
        ({"secagg": True}, "secagg"),
        ({"adapter_name": "../x"}, "adapter_name"),
        ({"config": {"lora_r": -1}}, "lora_r"),
    ]
    for change, field in cases:
        with pytest.raises(ServiceError) as err:
            services.submit_federated_job(**{**base, **change})
        assert err.value.field == field, (change, err.value.message)
    assert not FederatedTrainingJob.objects.exists()
    # A server step for FedAvg travels to the ServerApp in the run config and into the lineage.
    from pathlib import Path

    from training.federated.tasks import _overrides, lineage_for

    job = services.submit_federated_job(**base, server_learning_rate=3.0)
    assert _overrides(job, Path("/m"), Path("/r"), {})["server-learning-rate"] == 3.0
    assert lineage_for(job, 1, Path("/r"))["server_learning_rate"] == 3.0


@pytest.mark.django_db(transaction=True)
def test_horse_fails_clearly_when_the_superlink_is_unreachable(silos, tiny_llama, no_superlink):
    from training.federated import services
    from training.federated.models import FederatedTrainingJob
    from training.federated.tasks import run_federated_job

    job = services.submit_federated_job(
        adapter_name="fed", base_model=tiny_llama.name, silos=["alpha", "beta"], config={"lora_r": 2}
    )
    assert run_federated_job(job.pk) == FederatedTrainingJob.Status.FAILED
    job.refresh_from_db()
    assert "traceback" not in job.status_reason.lower()
    assert job.status_reason.startswith(f"Flower SuperLink {no_superlink}: ")
    assert "Connection to the SuperLink is unavailable" in job.status_reason and "\n" not in job.status_reason
    assert job.flower_run_id == ""


def test_cancel_a_queued_job_and_refuse_a_second_cancel(silos, tiny_llama):
    from training.federated import services

    job = services.submit_federated_job(
        adapter_name="fed", base_model=tiny_llama.name, silos=["alpha", "beta"]
    )
    assert services.cancel_federated_job(job.pk).status == "cancelled"
    with pytest.raises(ServiceError):
        services.cancel_federated_job(job.pk)


def test_api_door(client, api_headers, silos, tiny_llama, no_superlink):
    body = {
        "adapter_name": "fed_api",
        "base_model": tiny_llama.name,
        "silos": ["alpha", "beta"],
        "num_rounds": 2,
    }
    created = client.post(
        "/api/federated/jobs", json.dumps(body), content_type="application/json", **api_headers
    )
    assert created.status_code == 201, created.content
    job = created.json()
    assert job["status"] == "queued" and job["silos"] == ["alpha", "beta"]
    bad = client.post(
        "/api/federated/jobs",
        json.dumps({**body, "min_silos": 5}),
        content_type="application/json",
        **api_headers,
    )
    assert bad.status_code == 400 and bad.json()["field"] == "min_silos"
    assert client.get("/api/federated/jobs/999999", **api_headers).status_code == 404
    assert client.get(f"/api/federated/jobs/{job['id']}/rounds", **api_headers).json() == []
    listing = client.get("/api/federated/silos", **api_headers).json()
    assert (
        "unreachable" in listing["superlink_problem"].lower()
        or "refused" in listing["superlink_problem"].lower()
    )
    assert [s["name"] for s in listing["silos"]] == ["alpha", "beta", "gamma"]
    assert client.get("/api/federated/silos").status_code == 401  # no token, no session
    cancelled = client.post(f"/api/federated/jobs/{job['id']}/cancel", **api_headers)
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"


def test_pages(client_logged_in, client, silos, tiny_llama, no_superlink):
    page = client_logged_in.get("/training/federated/silos/")
    assert page.status_code == 200 and b"alpha" in page.content and b"unreachable" in page.content.lower()
    bad = client_logged_in.post("/training/federated/silos/", {"name": "x", "retailer": "r", "supernode_host": "h",
                                                               "node_config": "oops", "public_key": "k"})  # fmt: skip
    assert bad.status_code == 400 and b"banner-error" in bad.content
    form = client_logged_in.get("/training/federated/new/")
    assert form.status_code == 200 and b"federated-job-form" in form.content
    post = {"adapter_name": "fed_page", "base_model": tiny_llama.name, "training_type": "sft", "silos": ["alpha", "beta"],
            "num_rounds": 2, "local_steps": 2, "fraction_train": 1.0, "min_silos": 3, "strategy": "fedavg",
            "privacy": "off", "lora_r": 4, "lora_alpha": 8, "learning_rate": 0.001, "batch_size": 2}  # fmt: skip
    refused = client_logged_in.post("/training/federated/new/", post)
    assert refused.status_code == 400 and b"only 2 silo(s) were chosen" in refused.content
    queued = client_logged_in.post("/training/federated/new/", {**post, "min_silos": 2})
    assert queued.status_code == 302
    detail = client_logged_in.get(queued["Location"])
    assert detail.status_code == 200 and b"silo-loss-chart" in detail.content
    assert client_logged_in.get("/training/federated/jobs/999999/").status_code == 404
    from django.test import Client

    assert Client().get("/training/federated/").status_code in (301, 302)  # login required
    # The page's cancel form (CSRF-checked POST) ends the queued job.
    job_id = int(queued["Location"].rstrip("/").split("/")[-1])
    assert client_logged_in.post(f"/training/federated/jobs/{job_id}/cancel/").status_code == 302


def test_cli_door(silos, tiny_llama, no_superlink, capsys):
    call_command("federated", "submit", "fed_cli", "--base-model", tiny_llama.name, "--silos", "alpha,beta")
    job_id = int(capsys.readouterr().out.strip())
    call_command("federated", "status", str(job_id))
    assert json.loads(capsys.readouterr().out)["status"] == "queued"
    with pytest.raises(CommandError, match="min_silos"):
        call_command(
            "federated",
            "submit",
            "x",
            "--base-model",
            tiny_llama.name,
            "--silos",
            "alpha",
            "--min-silos",
            "2",
        )
    call_command("federated", "cancel", str(job_id))
    assert "cancelled" in capsys.readouterr().out


def test_facade(silos, tiny_llama, no_superlink):
    from rmnconsole import console

    job_id = console.submit_federated_job(
        adapter_name="fed_py", base_model=tiny_llama.name, silos=["alpha", "beta"]
    )
    assert console.get_federated_job(job_id)["status"] == "queued"
    assert console.cancel_federated_job(job_id) == "cancelled"
    assert {s["name"] for s in console.list_silos()} == {"alpha", "beta", "gamma"}


def test_recovery_stops_the_flower_run_of_a_dead_horse(silos, tiny_llama, no_superlink):
    """A horse killed mid-run: recovery fails the row and tries `flwr stop` on its run (here the SuperLink is
    down, so the reason says the stop failed — the row still ends)."""
    from rmnconsole.core import recovery
    from training.federated import services
    from training.federated.models import FederatedTrainingJob

    job = services.submit_federated_job(
        adapter_name="fed_dead", base_model=tiny_llama.name, silos=["alpha", "beta"]
    )
    job.claim("nohost:999999")
    FederatedTrainingJob.objects.filter(pk=job.pk).update(flower_run_id="12345")
    kind = next(k for k in recovery.job_kinds() if k.model is FederatedTrainingJob)
    job.refresh_from_db()
    assert kind.fail(job, "Worker lost")
    job.refresh_from_db()
    assert job.status == "failed"
    assert job.status_reason.startswith("Worker lost; stopping Flower run 12345 failed: ")
