"""Mapping rules as pydantic models: one class per transform type, and their checks against a schema and source."""

from __future__ import annotations

import re
import zoneinfo
from functools import lru_cache
from typing import Annotated, Any, ClassVar, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationError,
    field_validator,
    model_validator,
)

from datasets_app.mappings.rmis import RmisSchema

OFFSET_RE = re.compile(r"^(?:UTC)?([+-])(\d{1,2}):?(\d{2})?$")
MAX_ENUM_PAIRS = 500


class RuleError(ValueError):
    """Rules that do not validate; `errors` lists {rule, field, msg} dicts (rule = 0-based index or None)."""

    def __init__(self, errors: list[dict]):
        self.errors = errors
        first = errors[0] if errors else {"msg": "invalid rules"}
        where = f"rule {first['rule'] + 1}: " if isinstance(first.get("rule"), int) else ""
        super().__init__(f"{where}{first['msg']}")


class _Transform(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    needs_source: ClassVar[bool] = True

    def label(self) -> str:
        return self.type  # type: ignore[attr-defined]


class NoneTransform(_Transform):
    """Copy the value as it is (cast to the target type)."""

    type: Literal["none"] = "none"


class EnumPair(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    source: str = Field(min_length=1, max_length=200)
    target: str = Field(min_length=1, max_length=200)


class EnumMap(_Transform):
    """Translate a retailer's vocabulary into RMIS values; `unmapped` says what happens to other values."""

    type: Literal["enum_map"] = "enum_map"
    pairs: list[EnumPair] = Field(min_length=1, max_length=MAX_ENUM_PAIRS)
    unmapped: Literal["null", "pass_through", "error"] = "null"
    case_insensitive: bool = False

    @field_validator("pairs")
    @classmethod
    def _unique_sources(cls, pairs: list[EnumPair]) -> list[EnumPair]:
        seen: set[str] = set()
        for pair in pairs:
            if pair.source in seen:
                raise ValueError(f"source value {pair.source!r} appears twice")
            seen.add(pair.source)
        return pairs

    @model_validator(mode="after")
    def _unique_folded(self) -> EnumMap:
        if self.case_insensitive and len({p.source.lower() for p in self.pairs}) != len(self.pairs):
            raise ValueError("two source values differ only by case while case_insensitive is on")
        return self

    def label(self) -> str:
        return "enum_map"


class Scale(_Transform):
    """Divide or multiply a number, e.g. micros → currency units with /1000000."""

    type: Literal["scale"] = "scale"
    operation: Literal["divide", "multiply"] = "divide"
    factor: float = Field(gt=0, le=1e12, allow_inf_nan=False)

    def label(self) -> str:
        factor = int(self.factor) if self.factor == int(self.factor) else self.factor
        return f"{'/' if self.operation == 'divide' else '×'}{factor}"


class ToUtc(_Transform):
    """Parse a time and express it in UTC.

    Values with an offset keep it; values without one are read in `timezone` (IANA name or ±HH:MM).
    DST: a local time in the skipped hour is shifted forward by the gap; a local time in the repeated hour
    resolves to the standard-time (second) occurrence. Validation counts both.
    """

    type: Literal["to_utc"] = "to_utc"
    input_format: Literal["iso", "epoch_s", "epoch_ms", "strptime", "date"] = "iso"
    pattern: str | None = Field(default=None, max_length=100)
    timezone: str = Field(default="UTC", max_length=64)

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        value = value.strip()
        if parse_offset(value) is not None or value in available_zones():
            return value
        raise ValueError(
            f"unknown time zone {value!r}: use an IANA name (America/New_York) or an offset (+05:30)"
        )

    @model_validator(mode="after")
    def _pattern_when_strptime(self) -> ToUtc:
        if self.input_format == "strptime" and not (self.pattern and "%" in self.pattern):
            raise ValueError("a strptime pattern such as %Y-%m-%d %H:%M:%S is required")
        return self

    @property
    def pattern_has_offset(self) -> bool:
        return bool(self.pattern and ("%z" in self.pattern or "%Z" in self.pattern))


class Cast(_Transform):
    """Convert the type; values that do not convert become null and are counted as cast failures."""

    type: Literal["cast"] = "cast"
    to: Literal["int", "float", "string", "bool", "date"]

    def label(self) -> str:
        return f"cast:{self.to}"


Scalar = str | bool | int | float


class Constant(_Transform):
    """The same value on every row (no source field)."""

    type: Literal["constant"] = "constant"
    value: Scalar
    needs_source: ClassVar[bool] = False

    def label(self) -> str:
        return f"= {self.value!r}"


class Default(_Transform):
    """The source value, or `value` when the source is null or blank."""

    type: Literal["default"] = "default"
    value: Scalar

    def label(self) -> str:
        return f"default {self.value!r}"


class Lowercase(_Transform):
    type: Literal["lowercase"] = "lowercase"


class Trim(_Transform):
    type: Literal["trim"] = "trim"


Transform = Annotated[
    NoneTransform | EnumMap | Scale | ToUtc | Cast | Constant | Default | Lowercase | Trim,
    Field(discriminator="type"),
]
TRANSFORM_TYPES = ("none", "enum_map", "scale", "to_utc", "cast", "constant", "default", "lowercase", "trim")


class Rule(BaseModel):
    """Source field → target field through one transform."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    source: str | None = Field(default=None, max_length=200)
    target: str = Field(min_length=1, max_length=100)
    transform: Transform = Field(default_factory=NoneTransform)

    @model_validator(mode="after")
    def _source_when_needed(self) -> Rule:
        if self.transform.needs_source and not self.source:
            raise ValueError(f"transform {self.transform.type!r} needs a source field")
        if not self.transform.needs_source and self.source:
            object.__setattr__(self, "source", None)
        return self


_RULES = TypeAdapter(list[Rule])


@lru_cache(maxsize=1)
def available_zones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


def parse_offset(value: str) -> int | None:
    """'+05:30' → 330 minutes; None when the text is not an offset."""
    match = OFFSET_RE.match(value.strip())
    if not match:
        return None
    sign, hours, minutes = match.groups()
    total = int(hours) * 60 + int(minutes or 0)
    if total > 14 * 60:
        return None
    return total if sign == "+" else -total


def parse_rules(data: Any) -> list[Rule]:
    """Validate raw JSON rules; raises RuleError with one entry per problem."""
    if isinstance(data, list) and all(isinstance(r, Rule) for r in data):
        return list(data)
    try:
        return _RULES.validate_python(data)
    except ValidationError as exc:
        errors = []
        for err in exc.errors():
            loc = list(err.get("loc", ()))
            index = loc[0] if loc and isinstance(loc[0], int) else None
            fields = [str(p) for p in loc[1:] if not isinstance(p, int) and p not in TRANSFORM_TYPES]
            msg = str(err.get("msg", "invalid")).removeprefix("Value error, ")
            errors.append({"rule": index, "field": ".".join(fields), "msg": msg})
        raise RuleError(errors) from None


def rules_to_json(rules: list[Rule]) -> list[dict]:
    return [r.model_dump(mode="json", exclude_none=False) for r in rules]


def check_rules(rules: list[Rule], schema: RmisSchema, columns: list[str] | None) -> list[dict]:
    """Problems that pydantic alone cannot see: targets, duplicates, source columns, enum values."""
    errors: list[dict] = []
    seen: dict[str, int] = {}
    for i, rule in enumerate(rules):
        target = schema.field(rule.target)
        if target is None:
            errors.append(
                {"rule": i, "field": "target", "msg": f"{rule.target!r} is not a field of {schema.key}"}
            )
            continue
        if rule.target in seen:
            errors.append(
                {
                    "rule": i,
                    "field": "target",
                    "msg": f"{rule.target!r} is already mapped by rule {seen[rule.target] + 1}",
                }
            )
        seen.setdefault(rule.target, i)
        if columns is not None and rule.source is not None and rule.source not in columns:
            errors.append({"rule": i, "field": "source", "msg": f"the source has no column {rule.source!r}"})
        t = rule.transform
        if target.allowed:
            produced = [p.target for p in t.pairs] if isinstance(t, EnumMap) else []
            if isinstance(t, Constant | Default):
                produced.append(str(t.value))
            for value in produced:
                if value not in target.allowed:
                    errors.append(
                        {
                            "rule": i,
                            "field": "transform",
                            "msg": f"{value!r} is not an allowed {rule.target} ({', '.join(target.allowed)})",
                        }
                    )
        if target.type == "timestamp" and not isinstance(t, ToUtc | NoneTransform | Constant):
            errors.append(
                {"rule": i, "field": "transform", "msg": f"{rule.target} is a UTC timestamp: use to_utc"}
            )
    return errors
