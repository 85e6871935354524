"""A sweep's search space as plain data: parse a spec, refuse bad ranges up front, map to Optuna distributions."""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field
from typing import Any

from training.engine.config import PARAMS

KINDS = ("float", "log_float", "int", "choice")
# What a sweep may search (the numeric knobs of a LoRA run and the module set); the rest is fixed per sweep.
SEARCHABLE = (
    "learning_rate",
    "lora_r",
    "lora_alpha",
    "lora_dropout",
    "epochs",
    "max_steps",
    "batch_size",
    "gradient_accumulation_steps",
    "warmup_ratio",
    "weight_decay",
    "target_modules",
)
# target_modules choices are lists; Optuna stores categorical choices as scalars, so a set travels as "a,b".
LIST_SEPARATOR = ","


class SpaceError(ValueError):
    """A search-space entry is unusable: `field` names it, the message says why."""

    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field
        self.message = message


@dataclass(frozen=True)
class Dimension:
    """One searched hyperparameter: a range (float, log_float, int) or a list of choices."""

    name: str
    kind: str
    low: float | None = None
    high: float | None = None
    step: float | None = None
    choices: tuple[Any, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        if self.kind == "choice":
            return {"type": "choice", "choices": [decode(self.name, c) for c in self.choices]}
        out: dict[str, Any] = {"type": self.kind, "low": self.low, "high": self.high}
        if self.step is not None:
            out["step"] = self.step
        return out

    def distribution(self):
        from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

        if self.kind == "choice":
            return CategoricalDistribution(list(self.choices))
        if self.kind == "int":
            return IntDistribution(int(self.low), int(self.high), step=int(self.step or 1))
        return FloatDistribution(
            float(self.low), float(self.high), log=self.kind == "log_float", step=self.step
        )

    def grid_values(self) -> list[Any] | None:
        """Every value of a finite dimension (choices, int ranges, stepped floats); None for a continuous one."""
        if self.kind == "choice":
            return list(self.choices)
        if self.kind == "int":
            return list(range(int(self.low), int(self.high) + 1, int(self.step or 1)))
        if self.kind == "float" and self.step:
            count = round((self.high - self.low) / self.step)
            return [round(self.low + i * self.step, 12) for i in range(count + 1)]
        return None

    def corners(self) -> list[Any]:
        """The values that bound memory use (the smallest and largest), for the up-front capacity check."""
        if self.kind == "choice":
            return list(self.choices)
        return [
            self.low if self.kind != "int" else int(self.low),
            self.high if self.kind != "int" else int(self.high),
        ]


@dataclass
class SearchSpace:
    dimensions: list[Dimension] = field(default_factory=list)

    def distributions(self) -> dict[str, Any]:
        return {d.name: d.distribution() for d in self.dimensions}

    def to_dict(self) -> dict[str, Any]:
        return {d.name: d.to_dict() for d in self.dimensions}

    def grid(self) -> dict[str, list[Any]]:
        """The grid sampler's space; every dimension must be finite."""
        out = {}
        for d in self.dimensions:
            values = d.grid_values()
            if values is None:
                raise SpaceError(
                    d.name,
                    f"{d.name}: the grid sampler needs finite values — give choices, an int range, or a float step",
                )
            out[d.name] = values
        return out

    def grid_size(self) -> int:
        return math.prod(len(v) for v in self.grid().values()) if self.dimensions else 0

    def corner_points(self, limit: int = 256) -> list[dict[str, Any]]:
        """Every combination of each dimension's bounds (capped): enough to tell if any point fits in memory."""
        names = [d.name for d in self.dimensions]
        combos = itertools.islice(itertools.product(*(d.corners() for d in self.dimensions)), limit)
        return [decode_params(dict(zip(names, combo, strict=True))) for combo in combos]


def encode(name: str, value: Any) -> Any:
    if name == "target_modules":
        if isinstance(value, str):
            value = [part for part in value.split(LIST_SEPARATOR)]
        if not isinstance(value, list | tuple) or not value:
            raise SpaceError(name, "target_modules choices must be non-empty lists of module names")
        parts = [str(p).strip() for p in value]
        if any(not p or LIST_SEPARATOR in p for p in parts):
            raise SpaceError(name, "target_modules choices must be non-empty lists of module names")
        return LIST_SEPARATOR.join(parts)
    return value


def decode(name: str, value: Any) -> Any:
    if name == "target_modules" and isinstance(value, str):
        return value.split(LIST_SEPARATOR)
    return value


def decode_params(params: dict[str, Any]) -> dict[str, Any]:
    """Optuna's sampled params → training config values (target_modules back to a list)."""
    return {name: decode(name, value) for name, value in params.items()}


def _number(name: str, entry: dict, key: str) -> float:
    value = entry.get(key)
    if isinstance(value, bool) or value is None:
        raise SpaceError(name, f"{name}: '{key}' is required and must be a number")
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise SpaceError(name, f"{name}: '{key}' must be a number, not {value!r}") from None
    if not math.isfinite(number):
        raise SpaceError(name, f"{name}: '{key}' must be finite")
    return number


def _in_param_range(name: str, value: float, what: str) -> None:
    param = PARAMS[name]
    if param.minimum is not None and value < param.minimum:
        raise SpaceError(
            name, f"{name}: {what} {value:g} is below the smallest allowed value {param.minimum:g}"
        )
    if param.maximum is not None and value > param.maximum:
        raise SpaceError(
            name, f"{name}: {what} {value:g} is above the largest allowed value {param.maximum:g}"
        )


def parse_dimension(name: str, entry: Any) -> Dimension:
    if name not in SEARCHABLE:
        raise SpaceError(name, f"{name} cannot be searched; searchable: {', '.join(SEARCHABLE)}")
    if not isinstance(entry, dict):
        raise SpaceError(name, f"{name}: give a mapping such as {{type: choice, choices: [...]}}")
    kind = entry.get("type") or ("choice" if "choices" in entry else "")
    if kind == "log_uniform":
        kind = "log_float"
    if kind == "uniform":
        kind = "float"
    if kind not in KINDS:
        raise SpaceError(name, f"{name}: type must be one of {', '.join(KINDS)} (got {kind or 'none'!r})")
    param = PARAMS[name]
    if kind == "choice":
        choices = entry.get("choices")
        if not isinstance(choices, list) or not choices:
            raise SpaceError(name, f"{name}: choices must be a non-empty list")
        encoded = []
        for choice in choices:
            if name == "target_modules":
                encoded.append(encode(name, choice))
                continue
            if isinstance(choice, bool) or not isinstance(choice, int | float):
                raise SpaceError(name, f"{name}: choice {choice!r} is not a number")
            if param.kind is int and float(choice) != int(choice):
                raise SpaceError(name, f"{name}: choice {choice!r} must be a whole number")
            _in_param_range(name, float(choice), "choice")
            encoded.append(int(choice) if param.kind is int else float(choice))
        if len(set(encoded)) != len(encoded):
            raise SpaceError(name, f"{name}: choices repeat a value")
        return Dimension(name, "choice", choices=tuple(encoded))
    if name == "target_modules":
        raise SpaceError(name, "target_modules is searched over choices (type: choice)")
    low, high = _number(name, entry, "low"), _number(name, entry, "high")
    if low == high:
        raise SpaceError(name, f"{name}: the range {low:g}..{high:g} is empty (low equals high)")
    if low > high:
        raise SpaceError(name, f"{name}: the range is inverted (low {low:g} > high {high:g})")
    if kind == "log_float" and low <= 0:
        raise SpaceError(name, f"{name}: a log range must stay above 0 (low is {low:g})")
    if kind == "int" and param.kind is not int:
        raise SpaceError(name, f"{name} takes decimal values: use type float or log_float")
    if kind == "int" and (low != int(low) or high != int(high)):
        raise SpaceError(name, f"{name}: an int range needs whole-number bounds")
    _in_param_range(name, low, "low")
    _in_param_range(name, high, "high")
    step = entry.get("step")
    if step is not None:
        step = _number(name, entry, "step")
        if step <= 0 or step > high - low:
            raise SpaceError(name, f"{name}: step must be > 0 and no wider than the range")
        if kind == "log_float":
            raise SpaceError(name, f"{name}: a log range takes no step")
    return Dimension(name, kind, low, high, step)


def parse_space(raw: Any) -> SearchSpace:
    """Parse `{param: {type, low, high[, step]} | {type: choice, choices}}`; SpaceError names the first bad entry."""
    if not isinstance(raw, dict) or not raw:
        raise SpaceError(
            "search_space", "The search space is empty: give at least one hyperparameter to search"
        )
    return SearchSpace([parse_dimension(str(name), entry) for name, entry in raw.items()])
