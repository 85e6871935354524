"""Gate trainings of gated federations: start (or retrain: a new version), cancel, install a gate trained elsewhere.

A gate training whose worker went silent is ended by job recovery (federation.recovery), never by a page read."""

from __future__ import annotations

from pathlib import Path

from federation.models import Federation, GateTraining, JobStatus, Method
from rmnconsole.core import audit
from rmnconsole.core.errors import Conflict, ServiceError
from rmnconsole.core.paths import (
    DATASETS,
    FEDERATIONS,
    PathOutsideDataRoot,
    data_dir,
    data_root,
    relative_to_root,
    resolve_inside,
)
from rmnconsole.core.users import signed_in

GATE_DEFAULTS = {
    "gate_steps": 60,
    "gate_learning_rate": 1e-3,
    "gate_batch_size": 4,
    "gate_examples_per_adapter": 200,
}


def dataset_file(dataset_path: str, *, field: str, what: str = "Dataset") -> Path:
    """The file `dataset_path` names under datasets/; a path outside it or no such file is a refusal on `field`."""
    try:
        path = resolve_inside(dataset_path, data_dir(DATASETS))
    except PathOutsideDataRoot as exc:
        raise ServiceError(str(exc), field=field) from None
    if not path.is_file():
        raise ServiceError(f"{what} {dataset_path} does not exist.", field=field)
    return path


def gate_file(federation: Federation) -> Path:
    return data_dir(FEDERATIONS) / str(federation.pk) / f"gate-v{federation.version}.safetensors"


def _gate_data_paths(federation: Federation, dataset_path: str) -> list[str]:
    """The chosen dataset, else every member adapter's training data that still exists."""
    if dataset_path:
        return [relative_to_root(dataset_file(dataset_path, field="gate_dataset_path", what="Gate dataset"))]
    paths = []
    for member in federation.ordered_members():
        rel = member.adapter.training_dataset_path
        if rel and (data_root() / rel).is_file():
            paths.append(rel)
    if not paths:
        raise ServiceError(
            "No training data for the gate: none of the member adapters has its training dataset on this host. "
            "Choose a dataset for the gate.",
            field="gate_dataset_path",
        )
    return paths


def start_gate_training(federation: Federation, *, user=None, bump_version: bool = True) -> GateTraining:
    """Queue a gate training; a retrain gives the federation a new version (the cached model is stale)."""
    if federation.method != Method.GATED:
        raise ServiceError("Only gated federations have a gate to train.")
    if federation.gate_trainings.filter(status__in=GateTraining.ACTIVE).exists():
        raise Conflict("A gate training for this federation is already queued or running.")
    options = federation.options
    paths = _gate_data_paths(federation, options.get("gate_dataset_path", ""))
    if bump_version:
        federation.version += 1
        federation.status = Federation.Status.DRAFT
        federation.status_reason = "gate retraining"
        federation.save(update_fields=["version", "status", "status_reason", "updated_at"])
    training = GateTraining.objects.create(
        federation=federation,
        federation_version=federation.version,
        dataset_paths=paths,
        total_steps=options.get("gate_steps", GATE_DEFAULTS["gate_steps"]),
        learning_rate=options.get("gate_learning_rate", GATE_DEFAULTS["gate_learning_rate"]),
        created_by=signed_in(user),
    )
    training.enqueue_on_commit()
    audit.record(
        user,
        "federation.gate_training.start",
        federation,
        f"gate training for {federation.name}",
        training_id=training.pk,
    )
    return training


def install_gate(federation: Federation, weights: bytes, *, user=None) -> None:
    """A gate trained elsewhere (carried in an exported config) becomes this version's gate: no retraining."""
    import hashlib
    import os

    from safetensors import SafetensorError
    from safetensors.torch import load as load_safetensors

    try:
        tensors = load_safetensors(weights)
    except (SafetensorError, ValueError) as exc:
        raise ServiceError(f"The config's gate is not valid safetensors: {exc}", field="gate") from None
    if not tensors:
        raise ServiceError("The config's gate holds no tensors.", field="gate")
    path = gate_file(federation)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.partial")
    partial.write_bytes(weights)
    os.replace(partial, path)  # only a complete file is ever at the gate's path
    digest = hashlib.sha256(weights).hexdigest()
    federation.gate_path = relative_to_root(path)
    federation.status = Federation.Status.READY
    federation.status_reason = f"gate imported from a config (sha256 {digest[:12]}…); retrain it any time"
    federation.save(update_fields=["gate_path", "status", "status_reason", "updated_at"])
    audit.record(
        user, "federation.gate.import", federation, f"imported gate of {federation.name}", sha256=digest
    )


def cancel_gate_training(training: GateTraining, user=None) -> bool:
    """Stop a queued or running gate training (the running job notices within a second)."""
    if not training.finish(JobStatus.CANCELLED, "cancelled"):
        raise Conflict("This gate training has already finished.")
    Federation.objects.filter(pk=training.federation_id, version=training.federation_version).update(
        status=Federation.Status.FAILED,
        status_reason="Gate training was cancelled: retrain the gate to use it.",
    )
    audit.record(user, "federation.gate_training.cancel", training.federation, "cancelled a gate training")
    return True
