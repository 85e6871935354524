"""A sweep request (form, API body, YAML/JSON file, facade kwargs) checked up front: every bad input is refused
here with its reason, before a study or a trial exists."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.core.validators import validate_slug

from rmnconsole.core.errors import ServiceError
from rmnconsole.core.names import validate_name
from training import scaleout
from training import services as training_services
from training.models import FoundationModel
from training.runtime import training_redis
from training.sweeps.engine.space import SearchSpace, SpaceError, parse_space
from training.sweeps.engine.study import DIRECTIONS, OBJECTIVES, PRUNERS, SAMPLERS, SECOND_OBJECTIVES
from training.sweeps.measures import check_options

FIELDS = (
    "name",
    "adapter_type",
    "adapter_name",
    "base_model",
    "training_type",
    "dataset",
    "dataset_path",
    "quality_override",
    "fixed",
    "search_space",
    "sampler",
    "seed",
    "objective",
    "direction",
    "second_objective",
    "objective_suite",
    "pruner",
    "pruner_threshold",
    "max_trials",
    "max_parallel",
    "wall_clock_minutes",
    "keep_trial_adapters",
)
MAX_TRIALS = 500
MAX_PARALLEL = 64


@dataclass
class SweepPlan:
    """A checked request: what `start_sweep` saves."""

    name: str
    adapter_type: str
    adapter_name: str
    base_model: FoundationModel
    training_type: str
    dataset_path: str
    quality_override: bool
    fixed: dict[str, Any]
    space: SearchSpace
    sampler: str
    seed: int | None
    objective: str
    direction: str
    second_objective: str
    objective_options: dict[str, Any]
    pruner: str
    pruner_threshold: float | None
    max_trials: int
    max_parallel: int
    wall_clock_minutes: float | None
    keep_trial_adapters: bool
    notes: list[str] = field(default_factory=list)


def _int(spec: dict, name: str, default: int | None, low: int, high: int) -> int | None:
    value = spec.get(name, default)
    if value in (None, ""):
        return default
    if isinstance(value, bool) or (isinstance(value, float) and value != int(value)):
        raise ServiceError(f"{name} must be a whole number", field=name)
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise ServiceError(f"{name} must be a whole number, not {value!r}", field=name) from None
    if number < low:
        raise ServiceError(
            f"{name} is {number}: the budget must allow at least {low}"
            if name.startswith("max_")
            else f"{name} must be at least {low}",
            field=name,
        )
    if number > high:
        raise ServiceError(f"{name} is {number}: at most {high}", field=name)
    return number


def _choice(spec: dict, name: str, default: str, allowed) -> str:
    value = str(spec.get(name) or default).strip().lower()
    if value not in allowed:
        raise ServiceError(f"{name} must be one of {', '.join(allowed)} (got {value!r})", field=name)
    return value


def _bool(spec: dict, name: str) -> bool:
    value = spec.get(name, False)
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes", "on")
    return bool(value)


def _budget(spec: dict) -> tuple[int, int, float | None]:
    max_trials = _int(spec, "max_trials", None, 1, MAX_TRIALS)
    if max_trials is None:
        raise ServiceError("max_trials is required: the budget of trials (at least 1)", field="max_trials")
    max_parallel = _int(spec, "max_parallel", 1, 1, MAX_PARALLEL)
    minutes = spec.get("wall_clock_minutes")
    if minutes in (None, ""):
        return max_trials, max_parallel, None
    try:
        minutes = float(minutes)
    except (TypeError, ValueError):
        raise ServiceError(
            "wall_clock_minutes must be a number of minutes", field="wall_clock_minutes"
        ) from None
    if isinstance(spec.get("wall_clock_minutes"), bool) or not minutes > 0 or minutes > 60 * 24 * 30:
        raise ServiceError(
            "wall_clock_minutes must be above 0 (and at most 30 days); leave it empty for no limit",
            field="wall_clock_minutes",
        )
    return max_trials, max_parallel, minutes


def _strategy(spec: dict, space: SearchSpace) -> dict[str, Any]:
    sampler = _choice(spec, "sampler", "tpe", SAMPLERS)
    objective = _choice(spec, "objective", "eval_loss", tuple(OBJECTIVES))
    direction = _choice(spec, "direction", OBJECTIVES[objective].direction, DIRECTIONS)
    second = str(spec.get("second_objective") or "").strip().lower()
    if second in ("none", "-"):
        second = ""
    if second and second not in SECOND_OBJECTIVES:
        raise ServiceError(
            f"second_objective must be empty or one of {', '.join(SECOND_OBJECTIVES)}",
            field="second_objective",
        )
    pruner = _choice(spec, "pruner", "none", PRUNERS)
    if second and pruner != "none":
        raise ServiceError(
            "A sweep with a second objective (Pareto front) cannot prune: Optuna prunes single-objective studies only",
            field="pruner",
        )
    if OBJECTIVES[objective].measured and pruner != "none":
        raise ServiceError(
            f"A sweep on {OBJECTIVES[objective].label} cannot prune: pruning compares eval loss during training, "
            "and this objective is measured only after it",
            field="pruner",
        )
    options = check_options([objective, second], {"suite": spec.get("objective_suite")})
    threshold = spec.get("pruner_threshold")
    if pruner == "threshold":
        try:
            threshold = float(threshold)
        except (TypeError, ValueError):
            raise ServiceError(
                "The threshold pruner needs pruner_threshold (a number)", field="pruner_threshold"
            ) from None
    else:
        threshold = None
    seed = _int(spec, "seed", None, 0, 2**31 - 1)
    if sampler == "grid":
        try:
            space.grid()
        except SpaceError as exc:
            raise ServiceError(exc.message, field="search_space", details={"parameter": exc.field}) from exc
    return {
        "sampler": sampler,
        "objective": objective,
        "direction": direction,
        "second_objective": second,
        "objective_options": options,
        "pruner": pruner,
        "pruner_threshold": threshold,
        "seed": seed,
    }


def _names(spec: dict) -> tuple[str, str, str]:
    adapter_name = str(spec.get("adapter_name") or "").strip()
    try:
        validate_slug(adapter_name)
    except Exception:
        raise ServiceError(
            "adapter_name must be a slug: letters, digits, '_' or '-' (trials are named <adapter_name>-t<N>)",
            field="adapter_name",
        ) from None
    if len(adapter_name) > 80:
        raise ServiceError(
            "adapter_name is longer than 80 characters (trials add -t<N>)", field="adapter_name"
        )
    name = validate_name(spec.get("name") or adapter_name, field="name", what="The sweep name")
    return name, adapter_name, str(spec.get("adapter_type") or "")


def _check_points(plan: SweepPlan) -> None:
    """Every corner of the space must pass training's own checks; at least one must fit an online worker."""
    fits, first_refusal = False, ""
    for point in plan.space.corner_points():
        config = {**plan.fixed, **point}
        _model, full = training_services.validate_request(
            adapter_type=plan.adapter_type,
            adapter_name=f"{plan.adapter_name}-t0",
            training_type=plan.training_type,
            base_model=plan.base_model,
            config=config,
        )
        routing = scaleout.route(plan.base_model, plan.training_type, full)
        try:
            scaleout.check_capacity(routing, training_redis(), allow_waiting=False)
            fits = True
        except ServiceError as exc:
            first_refusal = first_refusal or exc.message
        objective = OBJECTIVES[plan.objective]
        if objective.needs_eval_split and not full.get("validation_split"):
            raise ServiceError(
                f"The objective {objective.label} needs a validation split above 0 (fixed validation_split)",
                field="fixed",
            )
    if not fits:
        raise ServiceError(
            "Every point of the search space fails the memory estimate for every online worker: "
            + first_refusal,
            field="search_space",
        )


def plan_sweep(spec: dict[str, Any], user=None) -> SweepPlan:
    """Check a sweep request completely; raises ServiceError (with the field at fault) on the first problem."""
    if not isinstance(spec, dict):
        raise ServiceError("A sweep spec must be a mapping of fields")
    unknown = sorted(set(spec) - set(FIELDS))
    if unknown:
        raise ServiceError(f"Unknown sweep field(s): {', '.join(unknown)}", field=unknown[0])
    name, adapter_name, adapter_type = _names(spec)
    try:
        space = parse_space(spec.get("search_space"))
    except SpaceError as exc:
        raise ServiceError(exc.message, field="search_space", details={"parameter": exc.field}) from exc
    fixed = spec.get("fixed") or {}
    if not isinstance(fixed, dict):
        raise ServiceError("fixed must be a mapping of hyperparameters", field="fixed")
    searched_and_fixed = sorted(set(fixed) & {d.name for d in space.dimensions})
    if searched_and_fixed:
        raise ServiceError(f"{searched_and_fixed[0]} is both fixed and searched", field="fixed")
    max_trials, max_parallel, minutes = _budget(spec)
    strategy = _strategy(spec, space)
    training_type = str(spec.get("training_type") or "sft")
    base_model, _cfg = training_services.validate_request(
        adapter_type=adapter_type,
        adapter_name=f"{adapter_name}-t0",
        training_type=training_type,
        base_model=spec.get("base_model"),
        config=fixed,
    )
    override = _bool(spec, "quality_override")
    row, file = training_services._resolve_dataset(
        spec.get("dataset"), spec.get("dataset_path"), user, override
    )
    training_services._check_rows(file, training_type)
    plan = SweepPlan(
        name=name,
        adapter_type=adapter_type,
        adapter_name=adapter_name,
        base_model=base_model,
        training_type=training_type,
        dataset_path=row.path if row is not None else spec.get("dataset_path"),
        quality_override=override,
        fixed=dict(fixed),
        space=space,
        max_trials=max_trials,
        max_parallel=max_parallel,
        wall_clock_minutes=minutes,
        keep_trial_adapters=_bool(spec, "keep_trial_adapters"),
        **strategy,
    )
    if plan.sampler == "grid" and plan.max_trials > space.grid_size():
        plan.notes.append(f"max_trials lowered to the grid's {space.grid_size()} points")
        plan.max_trials = space.grid_size()
    _check_points(plan)
    return plan
