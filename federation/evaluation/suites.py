"""Eval-suite use cases: create a suite (from a dataset's validation split, an uploaded JSONL, a mapping's held-out
records or a training job's validation split), new versions, and the checks a suite must pass before a run."""

from __future__ import annotations

import json
from pathlib import Path

from django.db import transaction
from django.db.models import Max

from federation.engine.data import parse_example, read_examples, validation_split
from federation.evaluation.engine.metrics import METRICS, check_case_checks, check_metric
from federation.evaluation.models import EvalCase, EvalSuite
from federation.services import check_text, get_row
from rmnconsole.core import audit
from rmnconsole.core.errors import Conflict, ServiceError
from rmnconsole.core.names import validate_name
from rmnconsole.core.paths import data_root
from rmnconsole.core.users import signed_in

MAX_CASES = 2000
MAX_JSONL_BYTES = 20 * 1024 * 1024
DEFAULT_METRICS = [{"name": "exact_match"}, {"name": "token_f1"}]
MAPPING_METRICS = [{"name": "field_accuracy"}, {"name": "json_valid"}, {"name": "exact_match"}]


def check_metrics(metrics: list | None, *, allow_none: bool = False) -> list[dict]:
    """`allow_none`: a suite without metrics (responses compared side by side, no score): A/B tests only."""
    if metrics is None:
        return list(DEFAULT_METRICS)
    if isinstance(metrics, str):
        metrics = [{"name": m.strip()} for m in metrics.split(",") if m.strip()]
    if allow_none and metrics == []:
        return []
    if not isinstance(metrics, list) or not metrics:
        raise ServiceError("Choose at least one metric.", field="metrics")
    cleaned, seen = [], set()
    for spec in metrics:
        spec = {"name": spec} if isinstance(spec, str) else spec
        try:
            clean = check_metric(spec)
        except ValueError as exc:
            raise ServiceError(f"Metric: {exc}.", field="metrics") from None
        if clean["name"] in seen:
            raise ServiceError(f"Metric {clean['name']} is listed twice.", field="metrics")
        seen.add(clean["name"])
        cleaned.append(clean)
    return cleaned


def check_cases(cases: list[dict], metrics: list[dict]) -> list[dict]:
    """Cases as stored; an empty suite or a reference-needing metric over cases without references is refused."""
    if not cases:
        raise ServiceError("The suite has no cases: give at least one prompt.", field="cases")
    if len(cases) > MAX_CASES:
        raise ServiceError(f"At most {MAX_CASES} cases per suite.", field="cases")
    clean = []
    for number, case in enumerate(cases, start=1):
        prompt = case.get("prompt") if isinstance(case, dict) else None
        if not isinstance(prompt, str) or not prompt.strip():
            raise ServiceError(f"Case {number} has no prompt.", field="cases")
        reference = case.get("reference")
        if reference is not None and not isinstance(reference, str):
            reference = json.dumps(reference, sort_keys=False)
        checks = case.get("checks") or {}
        if not isinstance(checks, dict):
            raise ServiceError(f"Case {number}: checks must be an object.", field="cases")
        try:
            check_case_checks(checks)
        except ValueError as exc:
            raise ServiceError(f"Case {number}: {exc}.", field="cases") from None
        clean.append(
            {
                "prompt": check_text(prompt, "cases", f"Case {number}'s prompt"),
                "reference": check_text(reference, "cases", f"Case {number}'s reference")
                if reference
                else None,
                "checks": checks,
            }
        )
    for spec in metrics:
        if METRICS[spec["name"]].needs_reference:
            missing = sum(1 for c in clean if c["reference"] is None)
            if missing:
                raise ServiceError(
                    f"Metric {spec['name']} needs a reference answer, and {missing} of {len(clean)} cases have "
                    "none: add references or choose contains / regex / JSON-valid / judge.",
                    field="metrics",
                )
        if spec["name"] in ("contains", "regex"):
            key = "needles" if spec["name"] == "contains" else "pattern"
            if key not in spec and any(key not in c["checks"] for c in clean):
                raise ServiceError(
                    f"Metric {spec['name']} needs a {key} on the suite or on every case.", field="metrics"
                )
    return clean


def next_version(name: str) -> int:
    return (EvalSuite.objects.filter(name=name).aggregate(v=Max("version"))["v"] or 0) + 1


@transaction.atomic
def create_suite(
    *,
    name: str,
    cases: list[dict],
    metrics: list | None = None,
    source: str = EvalSuite.Source.JSONL,
    source_note: str = "",
    description: str = "",
    dataset=None,
    mapping=None,
    max_new_tokens: int = 64,
    user=None,
) -> EvalSuite:
    """A new suite, or the next version of the suite with this name (a used version never changes)."""
    name = validate_name(name, what="The suite name")
    metrics = check_metrics(metrics, allow_none=source == EvalSuite.Source.ABTEST)
    cases = check_cases(cases, metrics)
    if (
        isinstance(max_new_tokens, bool)
        or not isinstance(max_new_tokens, int)
        or not 1 <= max_new_tokens <= 1024
    ):
        raise ServiceError("Max new tokens must be a whole number from 1 to 1024.", field="max_new_tokens")
    suite = EvalSuite.objects.create(
        name=name,
        version=next_version(name),
        description=check_text(description, "description", "The description")[:2000],
        source=source,
        source_note=source_note[:500],
        metrics=metrics,
        dataset=dataset,
        mapping=mapping,
        max_new_tokens=max_new_tokens,
        created_by=signed_in(user),
    )
    EvalCase.objects.bulk_create(
        EvalCase(suite=suite, index=i, prompt=c["prompt"], reference=c["reference"], checks=c["checks"])
        for i, c in enumerate(cases)
    )
    audit.record(user, "evaluation.suite.create", suite, f"suite {suite.label}: {len(cases)} cases")
    return suite


def parse_jsonl(text: str) -> list[dict]:
    """JSONL lines: {"prompt", "reference"?, "checks"?} or any dataset format (messages, prompt/completion)."""
    cases = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ServiceError(f"Line {number} is not JSON ({exc.msg}).", field="file") from None
        if not isinstance(row, dict):
            raise ServiceError(f"Line {number} is not a JSON object.", field="file")
        if "prompt" in row and isinstance(row["prompt"], str) and "completion" not in row:
            cases.append(
                {"prompt": row["prompt"], "reference": row.get("reference"), "checks": row.get("checks")}
            )
            continue
        example = parse_example(row)
        if example is None or not example.prompt:
            raise ServiceError(f"Line {number} has no prompt.", field="file")
        cases.append({"prompt": example.prompt, "reference": example.reference})
    return cases


def create_suite_from_jsonl(
    *, name: str, content: bytes | str, metrics=None, user=None, **options
) -> EvalSuite:
    if isinstance(content, bytes):
        if len(content) > MAX_JSONL_BYTES:
            raise ServiceError("The file is larger than 20 MB.", field="file")
        try:
            content = content.decode("utf-8")
        except UnicodeDecodeError:
            raise ServiceError("The file is not UTF-8 text.", field="file") from None
    return create_suite(
        name=name, cases=parse_jsonl(content), metrics=metrics, source=EvalSuite.Source.JSONL,
        source_note="uploaded JSONL", user=user, **options,
    )  # fmt: skip


def dataset_file(dataset) -> Path:
    path = data_root() / dataset.path
    if not path.is_file():
        raise ServiceError(f"Dataset {dataset.label}'s file is missing.", field="dataset")
    return path


def create_suite_from_dataset(
    *, dataset, name: str = "", metrics=None, limit: int = 200, user=None, **options
) -> EvalSuite:
    """The dataset's validation split (the same deterministic held-out slice the A/B tests use)."""
    rows = [e for e in validation_split(read_examples(dataset_file(dataset))) if e.prompt][:limit]
    if not rows:
        raise ServiceError(
            f"Dataset {dataset.label} has no prompt/answer examples to evaluate on.", field="dataset"
        )
    return create_suite(
        name=name or f"{dataset.name}-validation", cases=[{"prompt": e.prompt, "reference": e.reference} for e in rows],
        metrics=metrics, source=EvalSuite.Source.DATASET, source_note=f"validation split of {dataset.label}",
        dataset=dataset, user=user, **options,
    )  # fmt: skip


def get_suite(suite_id: int) -> EvalSuite:
    return get_row(EvalSuite.objects.all(), suite_id, "Eval suite")


def resolve_suite(value) -> EvalSuite:
    """A suite by id, by 'name' (latest version) or by 'name vN'."""
    if isinstance(value, EvalSuite):
        return value
    if isinstance(value, int) or (isinstance(value, str) and value.isdigit()):
        return get_suite(int(value))
    text = str(value).strip()
    name, _, version = text.rpartition(" v")
    query = EvalSuite.objects.filter(name=name, version=int(version)) if name and version.isdigit() else None
    found = (query.first() if query is not None else None) or EvalSuite.objects.filter(name=text).order_by(
        "-version"
    ).first()
    if found is None:
        from rmnconsole.core.errors import NotFound

        raise NotFound(f"Unknown eval suite {text!r}.", field="suite")
    return found


@transaction.atomic
def delete_suite(suite: EvalSuite, *, user=None) -> None:
    if suite.runs.exists():
        raise Conflict(f"Suite {suite.label} has runs: it stays (create a new version instead).")
    if suite.pipelines.exists():
        names = ", ".join(suite.pipelines.values_list("name", flat=True))
        raise Conflict(f"Suite {suite.label} judges pipeline(s) {names}: it stays.")
    audit.record(user, "evaluation.suite.delete", suite, f"deleted {suite.label}")
    suite.delete()
