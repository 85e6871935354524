"""Task metrics on one case (prediction vs reference or per-case checks) and their means over a suite.

Every score is a float in [0, 1] or None (the metric does not apply to that case). The A/B comparison scores
with the same exact_match / token_f1 as the eval runs: one code path (imported from federation.engine.abstats).
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field

# One scoring code path: eval runs and A/B comparisons score exact match and token-F1 with the same functions.
from federation.engine.abstats import exact_match, normalize, token_f1  # noqa: F401

_NUMBER = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")
_FENCE = re.compile(r"^```(?:json)?\s*(.*?)\s*```$", re.S)


def contains(prediction: str, needles: list[str]) -> float:
    """Share of the expected substrings present (case-insensitive)."""
    if not needles:
        return 1.0
    low = prediction.lower()
    return sum(1 for n in needles if n.lower() in low) / len(needles)


def regex_match(prediction: str, pattern: str) -> float:
    return 1.0 if re.search(pattern, prediction, re.S) else 0.0


def parse_json(text: str):
    """The JSON value of an output (a ```json fence around it is tolerated); raises ValueError when there is none."""
    stripped = text.strip()
    fenced = _FENCE.match(stripped)
    return json.loads(fenced.group(1) if fenced else stripped)


def json_valid(prediction: str) -> float:
    try:
        parse_json(prediction)
    except ValueError:
        return 0.0
    return 1.0


def _same_value(a, b) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b
    if isinstance(a, int | float) and isinstance(b, int | float):
        return math.isclose(float(a), float(b), rel_tol=1e-9, abs_tol=1e-9)
    return a == b


def field_scores(prediction: str, reference: str) -> dict[str, float]:
    """Per reference field: 1 when the output's JSON object has the same value, else 0 (invalid JSON: all 0)."""
    expected = parse_json(reference)
    if not isinstance(expected, dict):
        raise ValueError("field accuracy needs a JSON object as the reference")
    try:
        got = parse_json(prediction)
    except ValueError:
        got = None
    if not isinstance(got, dict):
        return {key: 0.0 for key in expected}
    return {
        key: 1.0 if key in got and _same_value(got[key], value) else 0.0 for key, value in expected.items()
    }


def first_number(text: str) -> float | None:
    match = _NUMBER.search(text.replace(",", ""))
    return float(match.group()) if match else None


def numeric_within(prediction: str, reference: str, tolerance: float, relative: bool = False) -> float:
    """1 when the first number of the output is within `tolerance` of the reference's (relative: a share of it)."""
    want, got = first_number(reference), first_number(prediction)
    if want is None:
        raise ValueError(f"the reference {reference[:40]!r} holds no number")
    if got is None:
        return 0.0
    allowed = tolerance * abs(want) if relative else tolerance
    return 1.0 if abs(got - want) <= allowed + 1e-12 else 0.0


@dataclass(frozen=True)
class MetricInfo:
    label: str
    needs_reference: bool
    options: tuple[str, ...] = ()


METRICS: dict[str, MetricInfo] = {
    "exact_match": MetricInfo("Exact match", True),
    "token_f1": MetricInfo("Token-F1", True),
    "contains": MetricInfo("Contains", False, ("needles",)),
    "regex": MetricInfo("Regex", False, ("pattern",)),
    "json_valid": MetricInfo("JSON valid", False),
    "field_accuracy": MetricInfo("Field accuracy", True),
    "numeric": MetricInfo("Numeric within tolerance", True, ("tolerance", "relative")),
    "judge": MetricInfo("LLM judge", False, ("rubric", "judge")),
}


def check_metric(spec: dict) -> dict:
    """A metric spec as stored on a suite: {"name": ..., options}; raises ValueError on a bad one."""
    if not isinstance(spec, dict) or spec.get("name") not in METRICS:
        known = ", ".join(METRICS)
        raise ValueError(
            f"unknown metric {spec.get('name') if isinstance(spec, dict) else spec!r} (known: {known})"
        )
    name = spec["name"]
    clean = {"name": name}
    if name == "regex" and "pattern" in spec:
        try:
            re.compile(str(spec["pattern"]))
        except re.error as exc:
            raise ValueError(f"regex pattern does not compile: {exc}") from None
        clean["pattern"] = str(spec["pattern"])
    if name == "contains" and "needles" in spec:
        needles = spec["needles"]
        if not isinstance(needles, list) or not all(isinstance(n, str) and n for n in needles):
            raise ValueError("contains needs a list of non-empty strings")
        clean["needles"] = needles
    if name == "numeric":
        tolerance = spec.get("tolerance", 0.0)
        if isinstance(tolerance, bool) or not isinstance(tolerance, int | float) or tolerance < 0:
            raise ValueError("numeric tolerance must be a number ≥ 0")
        clean["tolerance"] = float(tolerance)
        clean["relative"] = bool(spec.get("relative", False))
    if name == "judge":
        rubric = str(spec.get("rubric", "")).strip()
        if not rubric:
            raise ValueError("the LLM judge needs a rubric")
        clean["rubric"] = rubric
        judge = spec.get("judge") or {}
        if not isinstance(judge, dict) or not all(isinstance(v, str) for v in judge.values()):
            raise ValueError(
                'the judge is {"kind": "openai", "base_url", "model"} or {"kind": "console", "subject"}'
            )
        clean["judge"] = judge
    return clean


def check_case_checks(checks: dict) -> dict:
    """A case's own checks (needles, pattern, tolerance, relative); raises ValueError on a bad one."""
    known = {"needles", "pattern", "tolerance", "relative"}
    if set(checks) - known:
        raise ValueError(f"unknown checks {sorted(set(checks) - known)} (known: {sorted(known)})")
    probe = {"name": "contains", **({"needles": checks["needles"]} if "needles" in checks else {})}
    check_metric(probe)
    if "pattern" in checks:
        check_metric({"name": "regex", "pattern": checks["pattern"]})
        if not isinstance(checks["pattern"], str):
            raise ValueError("pattern must be text")
    if "tolerance" in checks:
        check_metric({"name": "numeric", "tolerance": checks["tolerance"]})
    return checks


def case_checks(spec: dict, checks: dict) -> dict:
    """A case's own checks win over the suite's defaults for contains / regex / numeric."""
    merged = dict(spec)
    for key in METRICS[spec["name"]].options:
        if key in (checks or {}):
            merged[key] = checks[key]
    return merged


@dataclass
class CaseScore:
    scores: dict[str, float | None] = field(default_factory=dict)
    fields: dict[str, float] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)


def score_case(specs: list[dict], prediction: str, reference: str | None, checks: dict | None) -> CaseScore:
    """Every non-judge metric of the suite on one output (the judge is scored separately, in batches)."""
    out = CaseScore()
    for spec in specs:
        name = spec["name"]
        if name == "judge":
            continue
        opts = case_checks(spec, checks or {})
        try:
            if METRICS[name].needs_reference and reference is None:
                out.scores[name] = None
                continue
            if name == "exact_match":
                value = exact_match(prediction, reference)
            elif name == "token_f1":
                value = token_f1(prediction, reference)
            elif name == "contains":
                needles = opts.get("needles")
                if needles is None:
                    raise ValueError("contains: no needles on the suite or the case")
                value = contains(prediction, list(needles))
            elif name == "regex":
                if "pattern" not in opts:
                    raise ValueError("regex: no pattern on the suite or the case")
                value = regex_match(prediction, str(opts["pattern"]))
            elif name == "json_valid":
                value = json_valid(prediction)
            elif name == "field_accuracy":
                out.fields = field_scores(prediction, reference)
                value = sum(out.fields.values()) / len(out.fields) if out.fields else 1.0
            else:  # numeric
                value = numeric_within(
                    prediction, reference, float(opts.get("tolerance", 0.0)), bool(opts.get("relative"))
                )
        except ValueError as exc:
            out.scores[name] = None
            out.errors.append(f"{name}: {exc}")
            continue
        out.scores[name] = value
    return out


def mean(values: list[float | None]) -> float | None:
    scored = [v for v in values if v is not None]
    return sum(scored) / len(scored) if scored else None


def summarize(specs: list[dict], cases: list[CaseScore]) -> dict:
    """Means per metric, the per-field table of field accuracy, and the primary score (the first metric's mean)."""
    metrics = {spec["name"]: mean([c.scores.get(spec["name"]) for c in cases]) for spec in specs}
    table: dict[str, list[float]] = {}
    for case in cases:
        for key, value in case.fields.items():
            table.setdefault(key, []).append(value)
    per_field = [
        {"field": key, "accuracy": sum(values) / len(values), "cases": len(values)}
        for key, values in sorted(table.items())
    ]
    primary = specs[0]["name"] if specs else None
    return {
        "metrics": metrics,
        "per_field": per_field,
        "primary_metric": primary,
        "score": metrics.get(primary) if primary else None,
        "scored_cases": sum(1 for c in cases if any(v is not None for v in c.scores.values())),
    }
