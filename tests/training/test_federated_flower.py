"""Federated training on Flower's Deployment Runtime, for real: a loopback SuperLink (TLS + node auth) and one
SuperNode per silo, each with its own data folder outside the console's data root; the console's RQ horse
drives `flwr run` and registers the aggregate.

Cost: one shared federation (module fixture: two real silos of different sizes and one whose dataset is missing)
and two small Flower runs of the tiny model. Each ClientApp message is a fresh `flwr-clientapp` process that
imports torch/trl: that dominates the runtime, so the runs send as few training messages as their claims need.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import numpy as np
import pytest

from training.federated.engine import report as rep
from training.federated.engine.demo_silos import write_silo_dataset, write_silo_preferences
from training.federated.engine.loopback import start_federation, write_node_key
from training.federated.engine.tensors import load_arrays, weighted_average

pytestmark = [pytest.mark.integration, pytest.mark.slow]

# Two silos with different row counts, so the example weighting is visible in the average.
SILOS = {"retailer_alpha": 16, "retailer_beta": 8}
CONFIG = {"lora_r": 4, "lora_alpha": 8, "batch_size": 2, "max_seq_length": 128, "validation_split": 0.25}


@pytest.fixture(scope="module")
def federation(tmp_path_factory, tiny_models):
    root = tmp_path_factory.mktemp("federation")  # not under any test's data root
    fed = start_federation(root, root / "console-home")
    try:
        for name, rows in SILOS.items():
            folder = root / "silo-data" / name
            dpo = write_silo_preferences(folder, name, count=4)
            fed.add_silo(name, write_silo_dataset(folder, name, rows), {"dpo-dataset-path": str(dpo)})
        # A silo whose node config names a dataset that is not there.
        fed.add_silo("retailer_delta", root / "silo-data" / "retailer_delta" / "missing.jsonl")
        fed.wait_online()
        yield fed
    finally:
        fed.stop()


@pytest.fixture
def flower_settings(settings, federation, monkeypatch):
    values = {
        "RMN_FLOWER_SUPERLINK": federation.link.address,
        "RMN_FLOWER_ROOT_CERTIFICATES": federation.link.root_certificates,
        "RMN_FLOWER_INSECURE": "0",
    }
    for key, value in values.items():
        monkeypatch.setenv(key, value)  # the worker subprocess reads them from its environment
    settings.RMN_FLOWER_SUPERLINK = federation.link.address
    settings.RMN_FLOWER_ROOT_CERTIFICATES = federation.link.root_certificates
    settings.RMN_FLOWER_INSECURE = False
    return federation


def _silo_rows(federation, names):
    from training.federated.models import Silo

    return [
        Silo.objects.create(
            name=n,
            retailer=n,
            supernode_host="127.0.0.1",
            node_config={"dataset-path": f"/silo/{n}/train.jsonl"},
            public_key="(registered by the fixture)",
            node_id=str(federation.node_ids[n]),
        )
        for n in names
    ]


def _finished(job) -> bool:
    job.refresh_from_db()
    return job.is_finished


def _wait(predicate, timeout=600, every=1.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(every)
    raise AssertionError("condition not met in time")


def test_silo_status_comes_from_the_superlink(flower_settings, db):
    from training.federated import services

    _silo_rows(flower_settings, SILOS)
    silos, problem = services.refresh_silo_status()
    assert problem == ""
    assert {s.name: s.last_status for s in silos} == dict.fromkeys(SILOS, "online")


def test_too_few_online_silos_is_refused_with_the_reason(
    flower_settings, transactional_db, tiny_llama, tmp_path
):
    """A silo registered with the SuperLink whose SuperNode never came online: below the minimum, the horse
    refuses before any work, naming the offline silo."""
    from training.federated import services
    from training.federated.models import FederatedTrainingJob, Silo
    from training.federated.tasks import run_federated_job

    _silo_rows(flower_settings, ["retailer_alpha"])
    _, public = write_node_key(tmp_path / "keys")
    node_id = flower_settings.cli.register_node(public, "retailer_offline")
    Silo.objects.create(
        name="retailer_offline", retailer="offline", supernode_host="127.0.0.1",
        node_config={"dataset-path": "/silo/offline/train.jsonl"}, public_key="(fixture)", node_id=str(node_id),
    )  # fmt: skip
    job = services.submit_federated_job(
        adapter_name="fed_min", base_model=tiny_llama.name, silos=["retailer_alpha", "retailer_offline"],
        config=CONFIG, min_silos=2,
    )  # fmt: skip
    assert run_federated_job(job.pk) == FederatedTrainingJob.Status.FAILED
    job.refresh_from_db()
    assert job.status_reason == (
        "only 1 of the job's silos are online, fewer than the minimum 2 (offline: retailer_offline)"
    )
    assert not job.flower_run_id and not job.silo_rounds.exists()  # no Flower run was started


def test_dp_dpo_run_completes_and_reports_epsilon(flower_settings, rq_worker, tiny_llama):
    """Federated DPO (each silo's `dpo-dataset-path`) under client-side DP (silos clip, the ServerApp adds noise)
    with Flower's RDP accountant: ε is reported."""
    from training.federated import services
    from training.federated.models import FederatedTrainingJob

    _silo_rows(flower_settings, SILOS)
    job = services.submit_federated_job(
        adapter_name="fed_dp",
        base_model=tiny_llama.name,
        silos=list(SILOS),
        training_type="dpo",
        config=CONFIG,
        num_rounds=1,
        local_steps=1,
        min_silos=2,
        privacy="client-fixed",
        dp_noise_multiplier=0.5,
        dp_clipping_norm=1.0,
        evaluate_each_round=False,
    )
    out = rq_worker.run_burst("default")
    job.refresh_from_db()
    assert job.status == FederatedTrainingJob.Status.COMPLETED, (job.status_reason, out.stdout[-3000:])
    assert job.epsilon is not None and job.epsilon > 0
    assert (
        job.lineage["privacy"]["epsilon"] == job.epsilon and job.lineage["privacy"]["mode"] == "client-fixed"
    )
    trained = {r.silo_name: r for r in job.silo_rounds.filter(round=1, phase="train", ok=True)}
    assert set(trained) == set(SILOS)
    # The silos trained on their preference rows (3 of 4 after the split), with a DPO loss.
    assert all(r.examples == 3 and r.loss is not None and r.loss > 0 for r in trained.values())
    assert job.adapter.adapter_type == "domain" and job.training_type == "dpo"
    assert os.path.isfile(job.adapter.abs_path() / "adapter_model.safetensors")


def test_federated_run_aggregates_example_weighted_survives_a_killed_silo_and_keeps_data_in_silos(
    flower_settings, rq_worker, tiny_llama, data_root
):
    """Runs last (file order): it kills a SuperNode of the shared federation."""
    from training.federated import services
    from training.federated.models import FederatedTrainingJob
    from training.models import Adapter

    everyone = [*SILOS, "retailer_delta"]
    _silo_rows(flower_settings, everyone)
    job = services.submit_federated_job(
        adapter_name="fed_domain",
        base_model=tiny_llama.name,
        silos=everyone,
        config=CONFIG,
        num_rounds=2,
        local_steps=2,
        min_silos=1,
        record_silo_adapters=True,
        round_timeout=240,
    )
    worker = rq_worker.start("default")
    # Kill one silo's SuperNode (and its ClientApp) once round 1 is in: round 2 goes on with the other.
    _wait(lambda: job.silo_rounds.filter(round=1, phase="evaluate").exists() or _finished(job))
    assert not _finished(job), job.status_reason
    flower_settings.nodes["retailer_beta"].kill(signal.SIGKILL)
    _wait(lambda: _finished(job), timeout=900)
    log = Path(worker.log_path).read_text()[-3000:]
    assert job.status == FederatedTrainingJob.Status.COMPLETED, (job.status_reason, log)

    folder = Path(job.run_folder)
    for rnd, answered in ((1, list(SILOS)), (2, ["retailer_alpha"])):
        trained = {r.silo_name: r.examples for r in job.silo_rounds.filter(round=rnd, phase="train", ok=True)}
        assert set(trained) == set(answered)
        returned = [
            load_arrays(folder / rep.SILO_RECORDS / f"round-{rnd}" / f"{s}.safetensors") for s in answered
        ]
        expected = weighted_average(returned, [trained[s] for s in answered])
        aggregate = load_arrays(folder / f"round-{rnd}.safetensors")
        assert list(aggregate) == list(expected)
        for key in expected:
            np.testing.assert_allclose(aggregate[key], expected[key], rtol=1e-5, atol=1e-7)
        # The silo with no dataset failed its round with the reason; the others went on.
        failed = job.silo_rounds.get(round=rnd, phase="train", silo_name="retailer_delta")
        assert not failed.ok and "dataset not found on this silo: missing.jsonl" in failed.reason
        evaluated = job.silo_rounds.filter(round=rnd, phase="evaluate", ok=True)
        assert {r.silo_name for r in evaluated} == set(answered) and all(r.loss > 0 for r in evaluated)
    # Round 1: the silos really trained (their adapters differ), and the average is weighted by their example
    # counts (12 and 6 training rows), not a plain mean.
    trained = {r.silo_name: r.examples for r in job.silo_rounds.filter(round=1, phase="train", ok=True)}
    assert trained == {"retailer_alpha": 12, "retailer_beta": 6}
    alpha, beta = (load_arrays(folder / rep.SILO_RECORDS / "round-1" / f"{s}.safetensors") for s in SILOS)
    aggregate = load_arrays(folder / "round-1.safetensors")
    differs = [k for k in alpha if not np.allclose(alpha[k], beta[k])]
    assert differs
    assert not all(np.allclose(aggregate[k], (alpha[k] + beta[k]) / 2, rtol=1e-5, atol=1e-7) for k in differs)
    # The killed silo is reported as failed/dropped in round 2, with a reason.
    gone = job.silo_rounds.get(round=2, phase="train", silo_name="retailer_beta")
    assert not gone.ok and gone.reason
    assert not job.silo_rounds.filter(silo_name__startswith="node ").exists()  # every failure has its silo

    adapter = job.adapter
    assert adapter.adapter_type == Adapter.AdapterType.DOMAIN
    stored = load_arrays(adapter.abs_path() / "adapter_model.safetensors")
    final = load_arrays(folder / "round-2.safetensors")
    assert all(np.array_equal(stored[k], final[k]) for k in final)
    lineage = job.lineage
    assert [s["name"] for s in lineage["silos"]] == sorted(everyone)
    assert {s["name"]: s["examples"] for s in lineage["silos"]}["retailer_delta"] == 0
    assert lineage["rounds"] == 2 and lineage["privacy"]["mode"] == "off"
    text = (adapter.abs_path() / "lineage.json").read_text()
    assert "silo-data" not in text and "train.jsonl" not in text  # counts, never paths or rows

    # The console's data root holds no silo's data: no silo dataset file, no silo row text.
    marker = b"For retailer_"
    for path in Path(data_root).rglob("*"):
        if path.is_file() and path.suffix in (".jsonl", ".json", ".md", ".txt"):
            assert marker not in path.read_bytes(), path
