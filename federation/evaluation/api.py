"""Evaluation API (/api/evals): suites, runs, leaderboard, run diff (thin: parse → service → schema)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from ninja import File, Form, Router, Schema, Status
from ninja.files import UploadedFile
from pydantic import Field

from datasets_app.library.services import get_dataset
from datasets_app.mappings.services import get_mapping
from federation.evaluation import mapping_suites, services, suites
from federation.evaluation.models import EvalCaseResult, EvalRun, EvalSuite
from federation.services import check_id
from rmnconsole.api_schemas import ERRORS, StrictInt

router = Router(tags=["evaluation"])


class CaseIn(Schema):
    prompt: str
    reference: str | None = None
    checks: dict[str, Any] = {}


class SuiteIn(Schema):
    name: str
    metrics: list[dict[str, Any]] | None = Field(
        None,
        description='e.g. [{"name": "field_accuracy"}, {"name": "regex", "pattern": "^\\\\{"}]; first = primary.',
    )
    description: str = ""
    max_new_tokens: StrictInt = 64
    cases: list[CaseIn] = []
    dataset_id: StrictInt | None = Field(
        None, description="Build the cases from this dataset's validation split."
    )
    mapping_id: StrictInt | None = Field(
        None, description="Build the cases from this mapping's held-out records."
    )
    examples: StrictInt = Field(50, description="Mapping suites: how many held-out records.")


class SuiteOut(Schema):
    id: int
    name: str
    version: int
    label: str
    source: str
    source_note: str
    metrics: list[dict[str, Any]]
    cases: int
    max_new_tokens: int
    locked: bool
    dataset_id: int | None
    mapping_id: int | None
    created_at: datetime


def suite_out(suite: EvalSuite) -> dict:
    return {
        **{
            k: getattr(suite, k)
            for k in ("id", "name", "version", "label", "source", "source_note", "metrics")
        },
        "cases": suite.cases.count(),
        "max_new_tokens": suite.max_new_tokens,
        "locked": suite.locked_at is not None,
        "dataset_id": suite.dataset_id,
        "mapping_id": suite.mapping_id,
        "created_at": suite.created_at,
    }


class RunIn(Schema):
    subject: str = Field(..., description="base:NAME, adapter:NAME[ vN], federation:NAME (or a bare name).")
    suite: str = Field(..., description="Suite id, 'name' (latest version) or 'name vN'.")
    seed: StrictInt = 0
    batch_size: StrictInt = 8
    max_new_tokens: StrictInt | None = None


class RunOut(Schema):
    id: int
    status: str
    error: str
    suite_id: int
    suite: str
    subject_kind: str
    subject: str
    progress_done: int
    progress_total: int
    progress_pct: float
    score: float | None
    summary: dict[str, Any]
    latency_p50_ms: float | None
    latency_p95_ms: float | None
    tokens_per_second: float | None
    seed: int
    batch_size: int
    max_new_tokens: int
    created_at: datetime
    finished_at: datetime | None


def run_out(run: EvalRun) -> dict:
    return {
        **{
            k: getattr(run, k)
            for k in (
                "id",
                "status",
                "error",
                "suite_id",
                "subject_kind",
                "progress_done",
                "progress_total",
                "progress_pct",
                "score",
                "summary",
                "latency_p50_ms",
                "latency_p95_ms",
                "tokens_per_second",
                "seed",
                "batch_size",
                "max_new_tokens",
                "created_at",
                "finished_at",
            )
        },
        "suite": run.suite.label,
        "subject": run.subject_label,
    }


class CaseResultOut(Schema):
    index: int
    prompt: str
    reference: str | None
    output: str
    latency_ms: float
    generated_tokens: int
    finished: bool
    scores: dict[str, Any]
    fields: dict[str, Any]
    judge: dict[str, Any]
    errors: list[str]


class LeaderboardRowOut(Schema):
    run_id: int
    subject: str
    kind: str
    score: float | None
    metrics: dict[str, Any]
    latency_p50_ms: float | None
    latency_p95_ms: float | None
    tokens_per_second: float | None


class DiffRowOut(Schema):
    index: int
    prompt: str
    reference: str | None
    a: str
    b: str
    score_a: float | None
    score_b: float | None
    changed: bool


@router.post("/suites", response={201: SuiteOut, **ERRORS})
def create_suite(request, payload: SuiteIn):
    common = {"metrics": payload.metrics, "user": request.user, "max_new_tokens": payload.max_new_tokens}
    if payload.mapping_id is not None:
        suite = mapping_suites.create_suite_from_mapping(
            mapping=get_mapping(check_id(payload.mapping_id, "Mapping")),
            name=payload.name,
            examples=payload.examples,
            **common,
        )
    elif payload.dataset_id is not None:
        suite = suites.create_suite_from_dataset(
            dataset=get_dataset(check_id(payload.dataset_id, "Dataset")), name=payload.name, **common
        )
    else:
        suite = suites.create_suite(
            name=payload.name,
            cases=[c.model_dump() for c in payload.cases],
            description=payload.description,
            source=EvalSuite.Source.JSONL,
            source_note="cases sent to the API",
            **common,
        )
    return Status(201, suite_out(suite))


@router.post("/suites/upload", response={201: SuiteOut, **ERRORS})
def upload_suite(request, name: Form[str], file: File[UploadedFile], metrics: Form[str] = ""):
    suite = suites.create_suite_from_jsonl(
        name=name, content=file.read(suites.MAX_JSONL_BYTES + 1), metrics=metrics or None, user=request.user
    )
    return Status(201, suite_out(suite))


@router.get("/suites", response={200: list[SuiteOut], **ERRORS})
def list_suites(request):
    return [suite_out(s) for s in EvalSuite.objects.all()]


@router.get("/suites/{suite_id}", response={200: SuiteOut, **ERRORS})
def get_suite(request, suite_id: int):
    return suite_out(suites.get_suite(suite_id))


@router.get("/suites/{suite_id}/leaderboard", response={200: list[LeaderboardRowOut], **ERRORS})
def leaderboard(request, suite_id: int):
    rows = services.leaderboard(suites.get_suite(suite_id))
    return [{**{k: v for k, v in r.items() if k != "run"}, "run_id": r["run"].pk} for r in rows]


@router.post("/runs", response={201: RunOut, **ERRORS})
def submit_run(request, payload: RunIn):
    run = services.submit_eval(
        payload.subject,
        payload.suite,
        seed=payload.seed,
        batch_size=payload.batch_size,
        max_new_tokens=payload.max_new_tokens,
        user=request.user,
    )
    return Status(201, run_out(run))


@router.get("/runs", response={200: list[RunOut], **ERRORS})
def list_runs(request, suite_id: int | None = None):
    runs = EvalRun.objects.select_related("suite", "base_model", "adapter", "federation")
    if suite_id is not None:
        runs = runs.filter(suite_id=check_id(suite_id, "Eval suite"))
    return [run_out(r) for r in runs[:500]]


@router.get("/runs/{run_id}", response={200: RunOut, **ERRORS})
def get_run(request, run_id: int):
    return run_out(services.get_eval_run(run_id))


@router.post("/runs/{run_id}/cancel", response={200: RunOut, **ERRORS})
def cancel_run(request, run_id: int):
    return run_out(services.cancel_eval(services.get_eval_run(run_id), user=request.user))


@router.get("/runs/{run_id}/cases", response={200: list[CaseResultOut], **ERRORS})
def run_cases(request, run_id: int):
    run = services.get_eval_run(run_id)
    return [
        {
            "index": r.case.index,
            "prompt": r.case.prompt,
            "reference": r.case.reference,
            "output": r.output,
            "latency_ms": r.latency_ms,
            "generated_tokens": r.generated_tokens,
            "finished": r.finished,
            "scores": r.scores,
            "fields": r.fields,
            "judge": r.judge,
            "errors": r.errors,
        }
        for r in EvalCaseResult.objects.filter(run=run).select_related("case")
    ]


@router.get("/runs/{run_id}/diff/{other_id}", response={200: list[DiffRowOut], **ERRORS})
def diff(request, run_id: int, other_id: int):
    return services.diff_runs(services.get_eval_run(run_id), services.get_eval_run(other_id))
