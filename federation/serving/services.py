"""Deployment use cases: create, set a stage's target, promote staging → production, roll back, canary split.

Every change is one transaction with a DeploymentEvent (what rollback restores) and an audit row.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db import transaction

from federation.models import Federation
from federation.services import check_id, check_text, require_staff, resolve_adapter
from federation.serving.models import (
    PRODUCTION,
    STAGES,
    STAGING,
    TARGET_RELATED,
    Deployment,
    DeploymentEvent,
    DeploymentStage,
)
from rmnconsole.core import audit
from rmnconsole.core.errors import Conflict, NotFound, ServiceError
from rmnconsole.core.names import validate_name
from rmnconsole.core.users import signed_in
from training.models import Adapter

FEDERATION = "federation"
ADAPTER = "adapter"


@dataclass(frozen=True)
class Target:
    """What a request runs on: a federation (at its version) or one adapter version on its base."""

    kind: str  # federation | adapter
    id: int
    label: str
    version: int = 1

    @property
    def key(self) -> str:
        """The Redis queue name part; a new federation version is a new key (a worker never serves a stale one)."""
        return f"{self.kind}-{self.id}-v{self.version}"

    def as_dict(self) -> dict:
        return {"kind": self.kind, "id": self.id, "label": self.label}


def target_of(row: Federation | Adapter | None) -> Target | None:
    if row is None:
        return None
    if isinstance(row, Federation):
        return Target(FEDERATION, row.pk, row.name, row.version)
    return Target(ADAPTER, row.pk, row.label, 1)


def resolve_target(federation=None, adapter=None) -> Federation | Adapter:
    """Exactly one of a federation (id or name) or an adapter (id, 'name' or 'name vN')."""
    if (federation in (None, "")) == (adapter in (None, "")):
        raise ServiceError("Give exactly one target: a federation or an adapter.", field="federation")
    if adapter not in (None, ""):
        return resolve_adapter(check_id(int(adapter), "Adapter") if str(adapter).isdigit() else adapter)
    value = federation
    if isinstance(value, Federation):
        return value
    lookup = (
        {"pk": check_id(int(value), "Federation")}
        if str(value).isdigit()
        else {"name": check_text(value, "federation", "Name")}
    )
    found = Federation.objects.filter(**lookup).first()
    if found is None:
        raise NotFound(f"Unknown federation {value!r}.", field="federation")
    if not found.is_ready:
        raise ServiceError(
            f"Federation {found.name} is {found.status}, not ready to serve.", field="federation"
        )
    return found


def check_stage(stage: str) -> str:
    if stage not in STAGES:
        raise ServiceError(f"Unknown stage {stage!r}: use {' or '.join(STAGES)}.", field="stage")
    return stage


def get_deployment(value: int | str) -> Deployment:
    text = check_text(value, "name", "The deployment name")
    lookup = {"pk": check_id(int(text), "Deployment")} if text.isdigit() else {"name": text}
    found = Deployment.objects.filter(**lookup).first()
    if found is None:
        raise NotFound(f"Unknown deployment {value!r}.")
    return found


def _assign(row: DeploymentStage, target, prefix: str = "") -> None:
    setattr(row, f"{prefix}federation", target if isinstance(target, Federation) else None)
    setattr(row, f"{prefix}adapter", target if isinstance(target, Adapter) else None)


def _locked_stage(deployment: Deployment, stage: str) -> DeploymentStage:
    row, _ = DeploymentStage.objects.select_for_update().get_or_create(deployment=deployment, stage=stage)
    return DeploymentStage.objects.select_related(*TARGET_RELATED).get(pk=row.pk)


def _change(user, deployment: Deployment, stage: str, target, action: str) -> DeploymentEvent:
    row = _locked_stage(deployment, stage)
    before = target_of(row.target)
    _assign(row, target)
    row.save()
    after = target_of(target)
    event = DeploymentEvent.objects.create(
        deployment=deployment,
        stage=stage,
        action=action,
        previous=before.as_dict() if before else {},
        current=after.as_dict() if after else {},
        actor=signed_in(user),
    )
    audit.record(
        user,
        f"deployment.{action}",
        deployment,
        f"{deployment.name}@{stage}: {before.label if before else '—'} → {after.label if after else '—'}",
        stage=stage,
        previous=event.previous,
        current=event.current,
    )
    return event


@transaction.atomic
def create_deployment(
    name: str, user, *, federation=None, adapter=None, stage: str = PRODUCTION, description: str = ""
) -> Deployment:
    require_staff(user, "create a deployment")
    name = validate_name(name, what="The deployment name")
    if Deployment.objects.filter(name=name).exists():
        raise Conflict(f"A deployment named {name} already exists.", field="name")
    deployment = Deployment.objects.create(
        name=name,
        description=check_text(description, "description", "The description"),
        created_by=signed_in(user),
    )
    audit.record(user, "deployment.create", deployment, f"created deployment {name}")
    if federation not in (None, "") or adapter not in (None, ""):
        _change(user, deployment, check_stage(stage), resolve_target(federation, adapter), "set")
    return deployment


@transaction.atomic
def set_target(
    deployment: Deployment | str, stage: str, user, *, federation=None, adapter=None
) -> DeploymentEvent:
    require_staff(user, "change a deployment")
    deployment = deployment if isinstance(deployment, Deployment) else get_deployment(deployment)
    return _change(user, deployment, check_stage(stage), resolve_target(federation, adapter), "set")


@transaction.atomic
def promote(
    deployment: Deployment | str, user, *, source: str = STAGING, to: str = PRODUCTION
) -> DeploymentEvent:
    """`to` gets `source`'s target (one call); the old one is kept in the event for rollback."""
    require_staff(user, "promote a deployment")
    deployment = deployment if isinstance(deployment, Deployment) else get_deployment(deployment)
    check_stage(source), check_stage(to)
    if source == to:
        raise ServiceError("Promote from one stage to another (e.g. staging → production).", field="stage")
    row = deployment.stage(source)
    if row is None or row.target is None:
        raise Conflict(f"{deployment.name}@{source} has no target to promote.")
    return _change(user, deployment, to, row.target, "promote")


@transaction.atomic
def apply_target(deployment: Deployment, stage: str, target, user, *, action: str) -> DeploymentEvent:
    """A stage change decided elsewhere (a pipeline's eval gate or a person's approval of it): no staff check here,
    the caller has already authorised it; the event and audit row are the same as every other change."""
    return _change(user, deployment, check_stage(stage), target, action)


@transaction.atomic
def rollback(deployment: Deployment | str, user, *, stage: str = PRODUCTION) -> DeploymentEvent:
    """Put back the target `stage` had before its last change (again on a second call: one step each)."""
    require_staff(user, "roll back a deployment")
    deployment = deployment if isinstance(deployment, Deployment) else get_deployment(deployment)
    check_stage(stage)
    _locked_stage(deployment, stage)
    last = (
        DeploymentEvent.objects.filter(deployment=deployment, stage=stage, rolled_back=False)
        .exclude(action__in=["rollback", "canary"])
        .first()
    )
    if last is None or not last.previous:
        raise Conflict(f"{deployment.name}@{stage} has no earlier target to roll back to.")
    kind, pk = last.previous["kind"], last.previous["id"]
    model = Federation if kind == FEDERATION else Adapter
    target = model.objects.filter(pk=pk).first()
    if target is None:
        raise Conflict(f"The earlier target {last.previous['label']} no longer exists.")
    last.rolled_back = True
    last.save(update_fields=["rolled_back"])
    return _change(user, deployment, stage, target, "rollback")


@transaction.atomic
def set_canary(
    deployment: Deployment | str, stage: str, user, *, percent: int, federation=None, adapter=None
) -> DeploymentStage:
    """`percent` of the stage's requests go to the canary target (0 turns the canary off)."""
    require_staff(user, "change a deployment")
    deployment = deployment if isinstance(deployment, Deployment) else get_deployment(deployment)
    row = _locked_stage(deployment, check_stage(stage))
    if not isinstance(percent, int) or not 0 <= percent <= 100:
        raise ServiceError("The canary share is a whole percent from 0 to 100.", field="percent")
    if percent and row.target is None:
        raise Conflict(f"{deployment.name}@{stage} has no main target to split with.")
    canary = resolve_target(federation, adapter) if percent else None
    _assign(row, canary, "canary_")
    row.canary_percent = percent
    row.save()
    audit.record(
        user,
        "deployment.canary",
        deployment,
        f"{deployment.name}@{stage}: {percent}% to {target_of(canary).label if canary else '—'}",
        stage=stage,
        percent=percent,
    )
    return row


@transaction.atomic
def delete_deployment(deployment: Deployment | str, user) -> None:
    require_staff(user, "delete a deployment")
    deployment = deployment if isinstance(deployment, Deployment) else get_deployment(deployment)
    from django.db.models import ProtectedError

    try:
        with transaction.atomic():
            deployment.delete()
    except ProtectedError as exc:
        users = sorted({f"pipeline {o}" for o in exc.protected_objects})
        raise Conflict(
            f"Deployment {deployment.name} is updated by {', '.join(users)}: delete those first."
        ) from None
    audit.record(user, "deployment.delete", deployment, f"deleted deployment {deployment.name}")


def parse_model_name(model: str) -> tuple[str, str]:
    """'name' → (name, production); 'name@staging' → (name, staging)."""
    name, _, stage = model.partition("@")
    return name, stage or PRODUCTION


def route(deployment: Deployment, stage: str, *, draw: int) -> tuple[Target, bool]:
    """The target this request runs on and whether it is the canary; `draw` (0–99) decides the split."""
    row = deployment.stage(stage)
    if row is None or row.target is None:
        raise NotFound(f"The model '{deployment.name}@{stage}' has no target deployed.")
    canary = row.canary
    if canary is not None and draw < row.canary_percent:
        return target_of(canary), True
    return target_of(row.target), False


def deployment_rows() -> list[dict]:
    """Every deployment with its stages' targets (for /v1/models, the page and the API)."""
    out = []
    for deployment in Deployment.objects.prefetch_related("stages__federation", "stages__adapter").order_by(
        "name"
    ):
        stages = {}
        for row in deployment.stages.all():
            main, canary = target_of(row.target), target_of(row.canary)
            stages[row.stage] = {
                "target": main.as_dict() if main else None,
                "canary": canary.as_dict() if canary else None,
                "canary_percent": row.canary_percent if canary else 0,
            }
        out.append(
            {
                "id": deployment.pk,
                "name": deployment.name,
                "created": int(deployment.created_at.timestamp()),
                "stages": stages,
            }
        )
    return out
