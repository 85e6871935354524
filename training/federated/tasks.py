"""RQ entry point: the horse drives one Flower run against the SuperLink and mirrors it into the job's rows.

It writes the starting adapter into the run folder, submits the Flower App (`flwr run`), then follows the run:
the ServerApp's per-round events become SiloRound rows and progress; the cancel flag stops the Flower run; the
finished aggregate is registered as a Domain adapter whose lineage names silos, rounds, privacy and counts.
A killed horse is caught by recovery (training.federated.recovery), which stops the Flower run.
"""

from __future__ import annotations

import json
import logging
import shutil
import time
import traceback
import uuid
from pathlib import Path

from django.db import close_old_connections
from django.utils import timezone

from rmnconsole.core.errors import ServiceError
from rmnconsole.core.heartbeat import Heartbeat, worker_id
from rmnconsole.core.paths import ADAPTERS, data_dir, data_root
from training.adapter_store import store_new_version
from training.engine.config import TrainingConfig
from training.engine.export import ModelCard, remove_quietly
from training.engine.loading import resolve_model_folder
from training.engine.model_files import BaseModelUnavailable
from training.federated import services
from training.federated.engine import report as rep
from training.federated.engine.flower_cli import FlowerCli, FlowerError
from training.federated.engine.initial import write_initial_adapter
from training.federated.engine.tensors import ADAPTER_CONFIG, ADAPTER_FILE
from training.federated.models import FederatedTrainingJob, SiloRound
from training.models import Adapter

log = logging.getLogger(__name__)
RUNNING = FederatedTrainingJob.Status.RUNNING
POLL_SECONDS = 1.0
STATUS_EVERY = 3.0  # seconds between asks of the SuperLink for the run's status


class RunEnded(Exception):
    def __init__(self, status: str, reason: str):
        super().__init__(reason)
        self.status, self.reason = status, reason


def run_federated_job(job_id: int) -> str:
    close_old_connections()
    job = FederatedTrainingJob.objects.filter(pk=job_id).first()
    if job is None:
        return "missing"
    folder = services.run_folder(job)
    if not job.claim(worker_id(), message="starting", run_folder=str(folder)):
        return job.status
    try:
        with Heartbeat(FederatedTrainingJob, job.pk):
            return _drive(job, folder)
    except RunEnded as end:
        job.finish(end.status, reason=end.reason, message=end.status)
    except FlowerError as exc:
        job.finish(
            FederatedTrainingJob.Status.FAILED,
            reason=f"Flower SuperLink {services.superlink().address}: {exc}",
            message="failed",
        )
    except (ServiceError, BaseModelUnavailable) as exc:
        job.finish(
            FederatedTrainingJob.Status.FAILED, reason=str(getattr(exc, "message", exc)), message="failed"
        )
    except Exception as exc:
        log.exception("federated job %s failed", job_id)
        job.finish(
            FederatedTrainingJob.Status.FAILED,
            reason=f"unexpected error: {type(exc).__name__} (the worker log has the traceback)",
            message="failed",
            lineage={"traceback": traceback.format_exc()[-4000:]},
        )
    return job.status


def _update(job: FederatedTrainingJob, **fields) -> None:
    FederatedTrainingJob.objects.filter(pk=job.pk, status=RUNNING).update(
        heartbeat_at=timezone.now(), **fields
    )


def _overrides(job: FederatedTrainingJob, model_folder: Path, folder: Path, nodes: dict[str, str]) -> dict:
    return {
        "num-rounds": job.num_rounds,
        "local-steps": job.local_steps,
        "fraction-train": job.fraction_train,
        "min-silos": job.min_silos,
        "strategy": job.strategy,
        "proximal-mu": job.proximal_mu,
        "server-learning-rate": job.server_learning_rate,
        "dp": job.privacy,
        "dp-noise-multiplier": job.dp_noise_multiplier,
        "dp-clipping-norm": job.dp_clipping_norm,
        "dp-delta": job.dp_delta,
        "evaluate": job.evaluate_each_round,
        "training-type": job.training_type,
        "training-config": json.dumps(job.config),
        "base-model-path": str(model_folder),
        "report-dir": str(folder),
        "record-silo-adapters": job.record_silo_adapters,
        "silo-nodes": json.dumps(nodes),
        "round-timeout": job.round_timeout,
    }


def _check_online(job: FederatedTrainingJob, cli: FlowerCli) -> dict[str, str]:
    """node id → silo name for the job's silos; refuses when fewer than the minimum are online."""
    silos = list(job.silos.all())
    status = {str(n.get("node-id")): n.get("status") for n in cli.nodes()}
    online = [s for s in silos if status.get(s.node_id) == "online"]
    if len(online) < job.min_silos:
        offline = ", ".join(s.name for s in silos if s not in online) or "none"
        raise RunEnded(
            FederatedTrainingJob.Status.FAILED,
            f"only {len(online)} of the job's silos are online, fewer than the minimum {job.min_silos} "
            f"(offline: {offline})",
        )
    return {s.node_id: s.name for s in silos}


def _drive(job: FederatedTrainingJob, folder: Path) -> str:
    if folder.exists():
        shutil.rmtree(folder)  # a re-run of a recovered job starts clean
    folder.mkdir(parents=True)
    cli = services.flower(folder / "flwr-home")
    nodes = _check_online(job, cli)  # first: an unreachable SuperLink or too few silos fail before any work
    model_folder = resolve_model_folder(job.base_model.source, job.base_model.local_path, data_root())
    _update(job, message="writing the starting adapter")
    write_initial_adapter(model_folder, TrainingConfig(**job.config), folder / rep.INITIAL)
    _update(job, message="submitting the Flower run")
    run_id = cli.start_run(_overrides(job, model_folder, folder, nodes), folder)
    _update(job, flower_run_id=str(run_id), message=f"Flower run {run_id} started")
    reader = rep.ReportReader(folder)
    last_status = 0.0
    while True:
        for event in reader.read():
            _apply(job, event)
        job.refresh_from_db(fields=["cancel_requested", "status"])
        if job.status != RUNNING:
            _stop_quietly(cli, run_id)
            return job.status
        if job.cancel_requested:
            _stop_quietly(cli, run_id)
            raise RunEnded(FederatedTrainingJob.Status.CANCELLED, f"Cancelled; Flower run {run_id} stopped")
        if time.monotonic() - last_status > STATUS_EVERY:
            last_status = time.monotonic()
            info = cli.run_info(run_id)
            state = str(info.get("status", ""))
            if state.startswith("finished"):
                for event in reader.read():
                    _apply(job, event)
                return _finish(job, folder, run_id, state, info)
        time.sleep(POLL_SECONDS)


def _apply(job: FederatedTrainingJob, event: dict) -> None:
    kind = event.get("kind")
    rnd = int(event.get("round") or 0)
    if kind in ("train", "evaluate"):
        rows = [
            SiloRound(job=job, round=rnd, phase=kind, silo_name=str(s["silo"])[:100], ok=True,
                      loss=s.get("train_loss" if kind == "train" else "eval_loss"), examples=s.get("examples", s.get("num-examples")))
            for s in event.get("silos", [])
        ] + [
            SiloRound(job=job, round=rnd, phase=kind, silo_name=str(f["silo"])[:100], ok=False,
                      reason=str(f.get("reason", ""))[:2000])
            for f in event.get("failed", [])
        ]  # fmt: skip
        SiloRound.objects.bulk_create(rows)
        done = sum(1 for s in event.get("silos", []))
        _update(
            job, current_round=rnd, message=f"round {rnd}/{job.num_rounds}: {kind} ({done} silos answered)"
        )
    elif kind == "aggregated":
        fields = {
            "progress_pct": round(100.0 * rnd / job.num_rounds, 1),
            "message": f"round {rnd} aggregated",
        }
        if event.get("epsilon") is not None:
            fields["epsilon"] = float(event["epsilon"])
        _update(job, **fields)


def _stop_quietly(cli: FlowerCli, run_id: int) -> None:
    try:
        cli.stop_run(run_id)
    except FlowerError as exc:  # already finished, or the SuperLink is gone: nothing more to stop
        log.info("stopping Flower run %s: %s", run_id, exc)


def _failure_reason(folder: Path, state: str, info: dict) -> str:
    events = rep.ReportReader(folder).read()
    failed = next((e for e in reversed(events) if e.get("kind") == "failed"), None)
    if failed:
        return str(failed.get("reason"))
    details = info.get("status-details")
    return f"the Flower run ended {state.split(':', 1)[-1]}" + (
        f": {details}" if details and details != "N/A" else ""
    )


def lineage_for(job: FederatedTrainingJob, run_id: int, folder: Path) -> dict:
    """Silos, rounds, privacy settings and example counts — never any silo's data or paths."""
    rounds = []
    for rnd in range(1, job.num_rounds + 1):
        rows = job.silo_rounds.filter(round=rnd)
        rounds.append(
            {
                "round": rnd,
                "trained": {r.silo_name: r.examples for r in rows if r.phase == "train" and r.ok},
                "failed": {r.silo_name: r.reason for r in rows if r.phase == "train" and not r.ok},
                "eval_loss": {r.silo_name: r.loss for r in rows if r.phase == "evaluate" and r.ok},
            }
        )
    examples: dict[str, int] = {}
    for rnd in rounds:
        for silo, count in rnd["trained"].items():
            examples[silo] = max(examples.get(silo, 0), int(count or 0))
    return {
        "kind": "federated",
        "flower_run_id": str(run_id),
        "silos": [
            {"name": s.name, "retailer": s.retailer, "examples": examples.get(s.name, 0)}
            for s in job.silos.all()
        ],
        "rounds": job.num_rounds,
        "local_steps": job.local_steps,
        "strategy": job.strategy,
        "proximal_mu": job.proximal_mu if job.strategy == "fedprox" else None,
        "server_learning_rate": job.server_learning_rate,
        "min_silos": job.min_silos,
        "fraction_train": job.fraction_train,
        "privacy": {
            "mode": job.privacy,
            "noise_multiplier": job.dp_noise_multiplier if job.privacy != "off" else None,
            "clipping_norm": job.dp_clipping_norm if job.privacy != "off" else None,
            "delta": job.dp_delta if job.privacy != "off" else None,
            "epsilon": job.epsilon,
            "secure_aggregation": job.secagg,
        },
        "per_round": rounds,
    }


def _finish(job: FederatedTrainingJob, folder: Path, run_id: int, state: str, info: dict) -> str:
    job.refresh_from_db()
    if state != "finished:completed" or not (folder / rep.FINAL).is_file():
        raise RunEnded(FederatedTrainingJob.Status.FAILED, _failure_reason(folder, state, info))
    lineage = lineage_for(job, run_id, folder)
    final_eval = {}
    last = [r for r in job.silo_rounds.filter(round=job.num_rounds, phase="evaluate", ok=True)]
    if last:
        total = sum(r.examples or 0 for r in last) or 1
        final_eval["eval_loss"] = round(sum((r.loss or 0) * (r.examples or 0) for r in last) / total, 6)
    staging = data_dir(ADAPTERS) / ".staging" / f"fedjob-{job.pk}-{uuid.uuid4().hex[:8]}"
    staging.mkdir(parents=True)
    shutil.copyfile(folder / rep.INITIAL / ADAPTER_CONFIG, staging / ADAPTER_CONFIG)
    shutil.copyfile(folder / rep.FINAL, staging / ADAPTER_FILE)
    (staging / "lineage.json").write_text(json.dumps(lineage, indent=2), encoding="utf-8")

    def card_for(version: int) -> ModelCard:
        return ModelCard(
            name=job.adapter_name, version=version, adapter_type="domain", training_type=job.training_type,
            base_model=job.base_model.name, base_model_source=job.base_model.source,
            dataset_path=f"federated over {len(lineage['silos'])} silos (data stayed in each silo)", dataset_sha256="",
            hyperparameters={**job.config, "rounds": job.num_rounds, "local_steps": job.local_steps,
                             "strategy": job.strategy, "privacy": job.privacy},
            final_metrics=final_eval, device=f"Flower run {run_id}", job_id=None,
        )  # fmt: skip

    row = {
        "adapter_type": "domain",
        "base_model": job.base_model,
        "metrics": {**final_eval, "federated": True},
        "training_dataset_path": "",
    }

    def finish(adapter: Adapter) -> None:
        if not job.finish(
            FederatedTrainingJob.Status.COMPLETED,
            reason=f"Adapter {adapter.label} registered",
            adapter=adapter,
            lineage=lineage,
            progress_pct=100.0,
            message="completed",
        ):
            raise RunEnded(job.status, "ended elsewhere")

    try:
        stored = store_new_version(job.adapter_name, staging, card_for, row, finish)
    except RunEnded:
        remove_quietly(staging)
        return job.status
    if stored is None:
        remove_quietly(staging)
        raise RunEnded(
            FederatedTrainingJob.Status.FAILED, "Could not register the adapter: no free version number"
        )
    return "completed"
