"""Use cases for federated training: register silos with the SuperLink, see them online, submit/cancel jobs."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from rmnconsole.core import audit
from rmnconsole.core.errors import Conflict, NotFound, ServiceError
from rmnconsole.core.names import validate_name
from rmnconsole.core.paths import data_dir
from rmnconsole.core.users import signed_in
from training.federated.engine.flower_cli import FlowerCli, FlowerError, SuperLinkAddress
from training.federated.models import FederatedStrategy, FederatedTrainingJob, PrivacyMode, Silo
from training.services import validate_request

RUNS = "federated/runs"
MAX_ROUNDS = 1000
MAX_LOCAL_STEPS = 100_000


# --- the SuperLink -------------------------------------------------------------------------------------------
def superlink() -> SuperLinkAddress:
    address = (settings.RMN_FLOWER_SUPERLINK or "").strip()
    if not address:
        raise ServiceError(
            "No Flower SuperLink is configured: set RMN_FLOWER_SUPERLINK (runconsole --federation-demo starts one)"
        )
    return SuperLinkAddress(
        address,
        insecure=bool(settings.RMN_FLOWER_INSECURE),
        root_certificates=settings.RMN_FLOWER_ROOT_CERTIFICATES or "",
    )


def console_flower_home() -> Path:
    """This console's FLWR_HOME (connection config only; Flower's CLI writes nothing secret here)."""
    return data_dir("federated") / "flwr-home"


def flower(home: Path | None = None) -> FlowerCli:
    return FlowerCli(home or console_flower_home(), superlink())


def run_root() -> Path:
    configured = (settings.RMN_FLOWER_RUN_ROOT or "").strip()
    folder = Path(configured) if configured else data_dir(RUNS)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _unreachable(exc: FlowerError) -> ServiceError:
    return ServiceError(
        f"The Flower SuperLink at {settings.RMN_FLOWER_SUPERLINK} is unreachable or refused: {exc}"
    )


# --- silos ---------------------------------------------------------------------------------------------------
def parse_node_config(value: Any) -> dict[str, str]:
    """A dict, JSON object, or Flower's `k="v" k2="v2"` line → {key: value}; it must name a dataset-path."""
    if isinstance(value, dict):
        parsed = value
    else:
        text = (value or "").strip()
        if text.startswith("{"):
            try:
                parsed = json.loads(text)
            except json.JSONDecodeError as exc:
                raise ServiceError(f"node_config is not valid JSON: {exc.msg}", field="node_config") from exc
        else:
            import shlex

            try:
                parts = shlex.split(text)
            except ValueError as exc:
                raise ServiceError(f"node_config cannot be parsed: {exc}", field="node_config") from exc
            if any("=" not in p for p in parts):
                raise ServiceError(
                    'node_config must be key="value" pairs separated by spaces', field="node_config"
                )
            parsed = dict(p.split("=", 1) for p in parts)
    if not isinstance(parsed, dict) or not all(isinstance(k, str) for k in parsed):
        raise ServiceError("node_config must map names to values", field="node_config")
    clean = {k.strip(): str(v) for k, v in parsed.items() if k.strip()}
    if not clean.get("dataset-path"):
        raise ServiceError(
            'node_config must name the silo-local dataset: dataset-path="/path/on/the/silo/train.jsonl"',
            field="node_config",
        )
    if any("\x00" in k or "\x00" in v for k, v in clean.items()):
        raise ServiceError("node_config contains a NUL character", field="node_config")
    return clean


def _check_public_key(text: str) -> str:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    key_text = (text or "").strip()
    try:
        key = serialization.load_ssh_public_key(key_text.encode())
    except (ValueError, TypeError):
        key = None
    if not isinstance(key, ec.EllipticCurvePublicKey):
        raise ServiceError(
            "public_key must be the SuperNode's EC public key in OpenSSH format (ecdsa-sha2-nistp384 …)",
            field="public_key",
        )
    return key_text


@transaction.atomic
def register_silo(
    name: str,
    *,
    retailer: str,
    supernode_host: str,
    node_config: Any,
    public_key: str,
    user=None,
) -> Silo:
    """Register the silo's SuperNode key with the SuperLink (Flower node auth) and save the silo."""
    name = validate_name(name, what="The silo name")
    retailer = validate_name(retailer, field="retailer", what="The retailer")
    host = (supernode_host or "").strip()
    if not host or len(host) > 200 or any(c.isspace() for c in host):
        raise ServiceError(
            "supernode_host must be a host name or address (no spaces)", field="supernode_host"
        )
    config = parse_node_config(node_config)
    config.setdefault("silo-name", name)
    key = _check_public_key(public_key)
    if Silo.objects.filter(name=name).exists():
        raise Conflict(f"A silo named {name!r} already exists", field="name")
    with tempfile.TemporaryDirectory(prefix="rmn-silo-key-") as tmp:
        key_file = Path(tmp) / "node_key.pub"
        key_file.write_text(key + "\n", encoding="utf-8")
        try:
            node_id = flower().register_node(key_file, name)
        except FlowerError as exc:
            raise ServiceError(
                f"The SuperLink refused the silo's key or is unreachable: {exc}", field="public_key"
            ) from exc
    try:
        silo = Silo.objects.create(
            name=name,
            retailer=retailer,
            supernode_host=host,
            node_config=config,
            public_key=key,
            node_id=str(node_id),
            last_status="registered",
            created_by=signed_in(user),
        )
    except IntegrityError as exc:
        raise Conflict(f"A silo named {name!r} already exists", field="name") from exc
    audit.record(user, "silo.register", silo, f"silo {name} ({retailer}) registered as node {node_id}")
    return silo


def get_silo(name_or_id: Any) -> Silo:
    text = str(name_or_id)
    silo = (
        Silo.objects.filter(pk=int(text)).first()
        if text.isdigit()
        else Silo.objects.filter(name=text).first()
    )
    if silo is None:
        raise NotFound(f"Silo {name_or_id} not found")
    return silo


def refresh_silo_status() -> tuple[list[Silo], str]:
    """Every silo with its status from the SuperLink's node list; (silos, problem) — problem is "" when reached."""
    silos = list(Silo.objects.all())
    try:
        nodes = {str(n.get("node-id")): n.get("status", "") for n in flower().nodes()}
    except (FlowerError, ServiceError) as exc:
        message = exc.message if isinstance(exc, ServiceError) else f"SuperLink unreachable: {exc}"
        for silo in silos:
            silo.last_status = silo.last_status or "unknown"
        return silos, message
    now = timezone.now()
    for silo in silos:
        status = nodes.get(silo.node_id, "unknown")
        status = "offline" if status in ("registered", "unregistered", "") else status
        if status != silo.last_status:
            Silo.objects.filter(pk=silo.pk).update(last_status=status, last_checked_at=now)
        silo.last_status, silo.last_checked_at = status, now
    return silos, ""


# --- jobs ----------------------------------------------------------------------------------------------------
def _number(value: Any, kind: type, field: str, low: float, high: float) -> Any:
    try:
        number = kind(value)
    except (TypeError, ValueError):
        raise ServiceError(f"{field} must be a number", field=field) from None
    if not (low <= number <= high):
        raise ServiceError(f"{field} must be between {low} and {high}", field=field)
    return number


@transaction.atomic
def submit_federated_job(
    *,
    adapter_name: str,
    base_model: Any,
    silos: list[Any],
    training_type: str = "sft",
    config: dict | None = None,
    num_rounds: int = 3,
    local_steps: int = 10,
    fraction_train: float = 1.0,
    min_silos: int = 2,
    strategy: str = FederatedStrategy.FEDAVG,
    proximal_mu: float = 0.0,
    server_learning_rate: float = 1.0,
    privacy: str = PrivacyMode.OFF,
    dp_noise_multiplier: float = 1.0,
    dp_clipping_norm: float = 1.0,
    dp_delta: float = 1e-5,
    secagg: bool = False,
    evaluate_each_round: bool = True,
    record_silo_adapters: bool = False,
    round_timeout: float = 3600.0,
    user=None,
) -> FederatedTrainingJob:
    """Validate everything checkable now, save the job (queued) and enqueue its horse on commit."""
    model, cfg = validate_request(
        adapter_type="domain", adapter_name=adapter_name, training_type=training_type, base_model=base_model,
        config=config,
    )  # fmt: skip
    if training_type not in ("sft", "dpo"):
        raise ServiceError("federated training supports sft and dpo", field="training_type")
    if not silos:
        raise ServiceError("Choose the silos to train on", field="silos")
    chosen = [get_silo(s) for s in dict.fromkeys(str(s) for s in silos)]
    num_rounds = _number(num_rounds, int, "num_rounds", 1, MAX_ROUNDS)
    local_steps = _number(local_steps, int, "local_steps", 1, MAX_LOCAL_STEPS)
    fraction_train = _number(fraction_train, float, "fraction_train", 0.01, 1.0)
    min_silos = _number(min_silos, int, "min_silos", 1, 10_000)
    if min_silos > len(chosen):
        raise ServiceError(
            f"min_silos is {min_silos} but only {len(chosen)} silo(s) were chosen", field="min_silos"
        )
    if strategy not in FederatedStrategy.values:
        raise ServiceError(f"strategy must be one of {', '.join(FederatedStrategy.values)}", field="strategy")
    proximal_mu = _number(proximal_mu, float, "proximal_mu", 0.0, 100.0)
    if strategy == FederatedStrategy.FEDPROX and proximal_mu <= 0:
        raise ServiceError("FedProx needs proximal_mu > 0", field="proximal_mu")
    server_learning_rate = _number(server_learning_rate, float, "server_learning_rate", 0.01, 100.0)
    if strategy == FederatedStrategy.FEDPROX and server_learning_rate != 1.0:
        raise ServiceError(
            "server_learning_rate applies to FedAvg; FedProx steps by its plain average (leave it at 1)",
            field="server_learning_rate",
        )
    if privacy not in PrivacyMode.values:
        raise ServiceError(f"privacy must be one of {', '.join(PrivacyMode.values)}", field="privacy")
    dp_noise_multiplier = _number(dp_noise_multiplier, float, "dp_noise_multiplier", 0.0, 100.0)
    dp_clipping_norm = _number(dp_clipping_norm, float, "dp_clipping_norm", 1e-6, 1e6)
    dp_delta = _number(dp_delta, float, "dp_delta", 1e-12, 0.1)
    if privacy == PrivacyMode.CLIENT_FIXED and dp_noise_multiplier <= 0:
        raise ServiceError(
            "differential privacy needs a noise multiplier > 0 (ε is unbounded at 0)",
            field="dp_noise_multiplier",
        )
    if secagg:
        raise ServiceError(
            "SecAgg+ is not available with this console's Flower Message-API strategies (see README)",
            field="secagg",
        )
    round_timeout = _number(round_timeout, float, "round_timeout", 10.0, 7 * 24 * 3600.0)
    job = FederatedTrainingJob.objects.create(
        adapter_name=adapter_name,
        base_model=model,
        training_type=training_type,
        config=cfg,
        num_rounds=num_rounds,
        local_steps=local_steps,
        fraction_train=fraction_train,
        min_silos=min_silos,
        strategy=strategy,
        proximal_mu=proximal_mu,
        server_learning_rate=server_learning_rate,
        privacy=privacy,
        dp_noise_multiplier=dp_noise_multiplier,
        dp_clipping_norm=dp_clipping_norm,
        dp_delta=dp_delta,
        secagg=bool(secagg),
        evaluate_each_round=bool(evaluate_each_round),
        record_silo_adapters=bool(record_silo_adapters),
        round_timeout=round_timeout,
        message="queued",
        created_by=signed_in(user),
    )
    job.silos.set(chosen)
    audit.record(user, "federated.submit", job, f"federated {adapter_name} over {len(chosen)} silos")
    job.enqueue_on_commit()
    return job


def get_federated_job(job_id: Any) -> FederatedTrainingJob:
    try:
        pk = int(job_id)
    except (TypeError, ValueError):
        raise NotFound(f"Federated job {job_id} not found") from None
    job = FederatedTrainingJob.objects.filter(pk=pk).first()
    if job is None:
        raise NotFound(f"Federated job {job_id} not found")
    return job


@transaction.atomic
def cancel_federated_job(job_id: Any, user=None) -> FederatedTrainingJob:
    """Queued: cancelled now. Running: the horse sees the flag, stops the Flower run and ends the job."""
    job = get_federated_job(job_id)
    if job.is_finished:
        raise Conflict(f"Federated job {job.pk} has already ended ({job.status})")
    queued = job.status == FederatedTrainingJob.Status.QUEUED
    if queued and job.transition(
        FederatedTrainingJob.Status.QUEUED,
        FederatedTrainingJob.Status.CANCELLED,
        finished_at=timezone.now(),
        status_reason="Cancelled before it started",
        message="cancelled",
    ):
        audit.record(user, "federated.cancel", job, "cancelled while queued")
        return job
    FederatedTrainingJob.objects.filter(pk=job.pk).update(cancel_requested=True, message="cancelling")
    job.refresh_from_db()
    audit.record(user, "federated.cancel", job, "cancel requested")
    return job


def job_rounds(job: FederatedTrainingJob) -> list[dict]:
    return [
        {
            "round": r.round,
            "phase": r.phase,
            "silo": r.silo_name,
            "ok": r.ok,
            "loss": r.loss,
            "examples": r.examples,
            "reason": r.reason,
        }
        for r in job.silo_rounds.all()
    ]


def run_folder(job: FederatedTrainingJob) -> Path:
    """Absolute: it may lie outside the data root (a folder shared with the SuperLink host)."""
    return Path(job.run_folder) if job.run_folder else run_root() / f"job-{job.pk}"
