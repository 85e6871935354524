"""Federation use cases: compose (validate + save), gate training, config export/import, composed-adapter export."""

from __future__ import annotations

import math
import re
import shutil
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from django.db import IntegrityError, transaction
from django.db.models import Model, QuerySet

from federation.engine.types import (
    APPROXIMATE_COMBINATIONS,
    COMBINATIONS,
    SAME_RANK_COMBINATIONS,
    CompositionSpec,
    MemberSpec,
)
from federation.gates import GATE_DEFAULTS, install_gate, start_gate_training
from federation.models import Federation, FederationMember, Method, Role
from rmnconsole.core import audit, queues
from rmnconsole.core.errors import Conflict, Forbidden, NotFound, ServiceError
from rmnconsole.core.names import validate_name
from rmnconsole.core.paths import (
    FEDERATIONS,
    data_dir,
    data_root,
)
from rmnconsole.core.users import signed_in
from training.models import Adapter, FoundationModel

Row = TypeVar("Row", bound=Model)

MAX_WEIGHT = 10.0
MAX_MEMBERS = 8
ADDITIVE_DEFAULTS = {"combination": "cat", "merged": False, "density": 0.5, "svd_rank": None}
_LABEL = re.compile(r"^(?P<name>.+?)\s+v(?P<version>\d+)$")
_PLACEHOLDER = re.compile(r"\{([^{}]*)\}")


@dataclass
class MemberInput:
    adapter: str | int | Adapter
    weight: float = 1.0
    role: str | None = None
    prompt_template: str = ""
    version: int | None = None


def assemble_members(
    *,
    retailer: Any = None,
    task: Any = None,
    domains: Iterable[Any] = (),
    weights: Mapping[Any, float] | None = None,
    templates: Mapping[str, str] | None = None,
    listed: Iterable[Mapping[str, Any]] = (),
) -> list[MemberInput]:
    """A federation's members in their order, whichever door names them: the retailer adapter, the task adapter,
    the domain adapters, then members listed one by one (the API's `members`).

    `weights` are keyed by role ("retailer", "task") or by the adapter as given; 1.0 when absent.
    """
    weights = weights or {}
    templates = templates or {}

    def weight(role: str, adapter: Any) -> float:
        if isinstance(adapter, str | int) and adapter in weights:
            return weights[adapter]
        return weights.get(role, 1.0)

    members = [
        MemberInput(
            adapter=adapter, weight=weight(role, adapter), role=role, prompt_template=templates.get(role, "")
        )
        for role, adapter in (("retailer", retailer), ("task", task))
        if adapter
    ]
    members += [MemberInput(adapter=a, weight=weight("domain", a), role="domain") for a in domains]
    for item in listed:
        adapter = item.get("adapter_id") if item.get("adapter_id") is not None else item.get("adapter")
        if adapter in (None, ""):
            raise ServiceError("Each member needs 'adapter' (name) or 'adapter_id'.", field="members")
        members.append(
            MemberInput(
                adapter=adapter,
                version=item.get("version"),
                weight=item.get("weight", 1.0),
                role=item.get("role"),
                prompt_template=str(item.get("prompt_template") or ""),
            )
        )
    return members


MAX_ID = 2**63 - 1


def check_text(value, field: str, label: str) -> str:
    """PostgreSQL text cannot hold NUL: refuse it with a message instead of a database error."""
    text = value if isinstance(value, str) else str(value)
    if "\x00" in text:
        raise ServiceError(f"{label} contains a NUL character.", field=field)
    return text


def check_id(value: int, what: str) -> int:
    if not 1 <= value <= MAX_ID:
        raise NotFound(f"{what} {value} does not exist.")
    return value


def get_row(rows: QuerySet[Row], pk: int, what: str) -> Row:
    """The row `pk` of `rows`, or NotFound naming it as `what` (an id out of range is simply not there)."""
    row = rows.filter(pk=check_id(pk, what)).first()
    if row is None:
        raise NotFound(f"{what} {pk} does not exist.")
    return row


def require_staff(user, action: str) -> None:
    if not getattr(user, "is_staff", False):
        raise Forbidden(f"Only admins can {action}.")


def resolve_base_model(value: str | int | FoundationModel) -> FoundationModel:
    if isinstance(value, FoundationModel):
        return value
    if isinstance(value, int):
        lookup = {"pk": check_id(value, "Base model")}
    else:
        lookup = {"name": check_text(value, "base_model", "The base model name").strip()}
    base = FoundationModel.objects.filter(**lookup).first()
    if base is None:
        names = ", ".join(FoundationModel.objects.values_list("name", flat=True)) or "none registered"
        raise NotFound(f"Unknown base model {value!r} (known: {names}).", field="base_model")
    return base


def resolve_adapter(value: str | int | Adapter, version: int | None = None) -> Adapter:
    """An adapter by id, by 'name' (latest version), by 'name v3', or by name + version."""
    if isinstance(value, Adapter):
        return value
    query = Adapter.objects.select_related("base_model")
    if isinstance(value, int):
        found = query.filter(pk=check_id(value, "Adapter")).first()
    else:
        text = check_text(value, "members", "An adapter name").strip()
        match = _LABEL.match(text)
        if match and version is None:
            text, version = match["name"], int(match["version"])
        if version is not None and not 1 <= version <= 2**31 - 1:
            raise NotFound(f"Unknown adapter {text!r} v{version}.", field="members")
        query = query.filter(name=text)
        found = query.filter(version=version).first() if version else query.order_by("-version").first()
    if found is None:
        shown = f"{value} v{version}" if version and not isinstance(value, int) else str(value)
        raise NotFound(
            f"Unknown adapter {shown!r}: train it first or pick one from the adapter registry.",
            field="members",
        )
    return found


def base_model_path(base: FoundationModel) -> Path:
    if base.local_path and Path(base.local_path).is_dir():
        return Path(base.local_path)
    from training.engine.model_files import check_availability

    found = check_availability(base.source, data_root())
    if not found.available:
        raise ServiceError(
            f"Base model {base.name} is not available on this host: {found.note}.", field="base_model"
        )
    return Path(found.path)


def _check_template(template: str, position: int) -> str:
    template = check_text(template or "", "members", f"Stage {position + 1}'s prompt template").strip()
    if len(template) > 4000:
        raise ServiceError(
            f"Stage {position + 1}'s prompt template is longer than 4000 characters.", field="members"
        )
    unknown = sorted({p for p in _PLACEHOLDER.findall(template) if p not in ("input", "previous")})
    if unknown:
        raise ServiceError(
            f"Stage {position + 1}'s prompt template uses unknown placeholders {unknown}: only {{input}} and {{previous}} exist.",
            field="members",
        )
    return template


def _check_member(base: FoundationModel, item: MemberInput, position: int) -> FederationMember:
    adapter = resolve_adapter(item.adapter, item.version)
    if adapter.base_model_id != base.pk:
        raise ServiceError(
            f"Adapter {adapter.label} was trained on base model {adapter.base_model.name}, "
            f"but this federation's base model is {base.name}: pick an adapter trained on {base.name}.",
            field="members",
        )
    if not all(
        (adapter.abs_path() / f).is_file() for f in ("adapter_config.json", "adapter_model.safetensors")
    ):
        raise ServiceError(
            f"Adapter {adapter.label}'s files (adapter_config.json + adapter_model.safetensors) are missing "
            f"from {adapter.path}.",
            field="members",
        )
    try:
        weight = float(item.weight)
    except (TypeError, ValueError):
        raise ServiceError(f"Weight of {adapter.label} must be a number.", field="members") from None
    if not math.isfinite(weight) or weight == 0 or abs(weight) > MAX_WEIGHT:
        raise ServiceError(
            f"Weight of {adapter.label} must be non-zero and between -{MAX_WEIGHT:g} and {MAX_WEIGHT:g}.",
            field="members",
        )
    role = item.role or (adapter.adapter_type if adapter.adapter_type in Role.values else Role.DOMAIN)
    if role not in Role.values:
        raise ServiceError(f"Role {role!r} is not one of {', '.join(Role.values)}.", field="members")
    template = _check_template(item.prompt_template, position)
    return FederationMember(
        position=position, adapter=adapter, weight=weight, role=role, prompt_template=template
    )


def _check_options(method: str, options: dict, members: list[FederationMember]) -> dict:
    options = dict(options or {})
    if method == Method.ADDITIVE:
        merged = {**ADDITIVE_DEFAULTS, **{k: v for k, v in options.items() if k in ADDITIVE_DEFAULTS}}
        if merged["combination"] not in COMBINATIONS:
            raise ServiceError(
                f"Combination {merged['combination']!r} is not one of {', '.join(COMBINATIONS)}.",
                field="combination",
            )
        merged["merged"] = bool(merged["merged"])
        density = merged["density"]
        if isinstance(density, bool) or not isinstance(density, int | float) or not 0 < float(density) <= 1:
            raise ServiceError("Density must be a number in (0, 1].", field="density")
        rank = merged["svd_rank"]
        if rank is not None and (
            isinstance(rank, bool) or not isinstance(rank, int) or not 1 <= rank <= 4096
        ):
            raise ServiceError(
                "SVD rank must be a whole number between 1 and 4096 (or empty).", field="svd_rank"
            )
        combination = merged["combination"]
        if combination in SAME_RANK_COMBINATIONS and len(members) > 1:
            ranks = {m.adapter.rank for m in members}
            if len(ranks) > 1:
                raise ServiceError(
                    f"Combination '{combination}' needs adapters of the same rank (got {sorted(ranks)}); "
                    "use 'cat' (exact) or an svd combination.",
                    field="combination",
                )
            if any(m.weight < 0 for m in members):
                raise ServiceError(
                    f"Combination '{combination}' cannot take negative weights.", field="combination"
                )
        return merged
    if method == Method.GATED:
        gate = {**GATE_DEFAULTS, **{k: v for k, v in options.items() if k in GATE_DEFAULTS}}
        limits = {
            "gate_steps": (1, 5000),
            "gate_batch_size": (1, 64),
            "gate_examples_per_adapter": (1, 10000),
        }
        for key, (low, high) in limits.items():
            value = gate[key]
            if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
                raise ServiceError(f"{key} must be a whole number between {low} and {high}.", field=key)
        rate = gate["gate_learning_rate"]
        if isinstance(rate, bool) or not isinstance(rate, int | float) or not 0 < rate <= 1:
            raise ServiceError("gate_learning_rate must be in (0, 1].", field="gate_learning_rate")
        gate["gate_dataset_path"] = check_text(
            options.get("gate_dataset_path") or "", "gate_dataset_path", "The path"
        )
        return gate
    return {}


@transaction.atomic
def create_federation(
    *,
    name: str,
    base_model: str | int | FoundationModel,
    members: list[MemberInput],
    method: str = Method.ADDITIVE,
    options: dict | None = None,
    user=None,
    gate_weights: bytes | None = None,
    subtract: bool = False,
) -> Federation:
    """Validate everything up front, save the federation; gated ones start training their gate (or install
    `gate_weights`, a gate trained elsewhere, as imported from an exported config)."""
    name = validate_name(check_text(name or "", "name", "The name"), what="The federation name")
    if method not in Method.values:
        raise ServiceError(f"Method {method!r} is not one of {', '.join(Method.values)}.", field="method")
    base = resolve_base_model(base_model)
    if not members:
        raise ServiceError("Select at least one adapter (a retailer and/or a task adapter).", field="members")
    if len(members) > MAX_MEMBERS:
        raise ServiceError(f"A federation holds at most {MAX_MEMBERS} adapters.", field="members")
    if method == Method.GATED and len(members) < 2:
        raise ServiceError("Gated routing needs at least two adapters to route between.", field="members")
    checked = [_check_member(base, item, i) for i, item in enumerate(members)]
    negative = [m for m in checked if m.weight < 0]
    if negative and not subtract:
        # A minus sign typed by mistake would silently invert an adapter; subtracting must be meant.
        raise ServiceError(
            f"Weight {negative[0].weight:g} of {negative[0].adapter.label} is negative, which subtracts that "
            "adapter's behavior. Choose 'subtract' to confirm, or use a positive weight.",
            field="members",
        )
    seen: set[int] = set()
    for member in checked:
        if member.adapter.pk in seen:
            raise ServiceError(f"Adapter {member.adapter.label} is selected twice.", field="members")
        seen.add(member.adapter.pk)
    clean_options = _check_options(method, options or {}, checked)
    base_model_path(base)
    if Federation.objects.filter(name=name).exists():
        raise Conflict(f"A federation named {name!r} already exists: choose another name.", field="name")
    ready = method != Method.GATED
    try:
        with transaction.atomic():
            federation = Federation.objects.create(
                name=name,
                base_model=base,
                method=method,
                options=clean_options,
                status=Federation.Status.READY if ready else Federation.Status.DRAFT,
                created_by=signed_in(user),
            )
    except IntegrityError:
        raise Conflict(
            f"A federation named {name!r} already exists: choose another name.", field="name"
        ) from None
    for member in checked:
        member.federation = federation
    FederationMember.objects.bulk_create(checked)
    audit.record(
        user,
        "federation.create",
        federation,
        f"{method} federation {name} on {base.name}",
        members=[m.adapter.label for m in checked],
    )
    if gate_weights is not None and method != Method.GATED:
        raise ServiceError("Only gated federations carry a gate.", field="gate")
    if method == Method.GATED and gate_weights is not None:
        install_gate(federation, gate_weights, user=user)
    elif method == Method.GATED:
        start_gate_training(federation, user=user, bump_version=False)
    elif method == Method.ADDITIVE:
        fid, version = federation.pk, federation.version
        transaction.on_commit(
            lambda: queues.enqueue(queues.DEFAULT, "federation.tasks.compute_fidelity", fid, version)
        )
    return federation


def get_federation(federation_id: int) -> Federation:
    return get_row(Federation.objects.select_related("base_model"), federation_id, "Federation")


@transaction.atomic
def delete_federation(federation: Federation, user) -> None:
    require_staff(user, "delete a federation")
    if not Federation.objects.select_for_update().filter(pk=federation.pk).exists():
        raise Conflict(f"Federation {federation.name} was deleted at the same moment by another request.")
    audit.record(user, "federation.delete", federation, f"deleted federation {federation.name}")
    folder = data_dir(FEDERATIONS) / str(federation.pk)
    from django.db.models import ProtectedError

    try:
        with transaction.atomic():
            federation.delete()
    except ProtectedError as exc:
        users = sorted({str(o) for o in exc.protected_objects})
        raise Conflict(
            f"Federation {federation.name} is served by {', '.join(users)}: change those first."
        ) from None
    transaction.on_commit(lambda: shutil.rmtree(folder, ignore_errors=True))


def composition_spec(federation: Federation) -> CompositionSpec:
    """What the engine needs to build this federation's model, from the rows."""
    members = tuple(
        MemberSpec(
            label=m.adapter.label,
            path=m.adapter.abs_path(),
            weight=m.weight,
            role=m.role,
            prompt_template=m.prompt_template,
        )
        for m in federation.ordered_members()
    )
    options = federation.options or {}
    gate_path = data_root() / federation.gate_path if federation.gate_path else None
    return CompositionSpec(
        base_path=base_model_path(federation.base_model),
        method=federation.method,
        members=members,
        combination=options.get("combination", "cat"),
        merged=bool(options.get("merged", False)),
        density=float(options.get("density", 0.5)),
        svd_rank=options.get("svd_rank"),
        gate_path=gate_path,
    )


def is_approximate(federation: Federation) -> bool:
    return (
        federation.method == Method.ADDITIVE
        and federation.options.get("combination") in APPROXIMATE_COMBINATIONS
    )
