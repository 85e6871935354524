"""RQ entry point of an eval run (inference queue): load the subject from the worker's model cache, generate every
case in batches, score, and write the per-case results and the summary in one transaction."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone

from federation import inference_worker as worker
from federation.engine.types import SEQUENTIAL, GenerationParams, MemberSpec
from federation.evaluation.engine import judge as judging
from federation.evaluation.engine.generation import CaseOutput, generate_all, generate_batch, latency_summary
from federation.evaluation.engine.metrics import mean, score_case, summarize
from federation.evaluation.models import EvalCaseResult, EvalRun
from federation.services import base_model_path
from rmnconsole.core.errors import ServiceError
from rmnconsole.core.heartbeat import Heartbeat

logger = logging.getLogger(__name__)
JUDGE_MAX_NEW_TOKENS = 16


@dataclass
class LoadedSubject:
    model: object
    tokenizer: object
    composed: object | None = None  # a federation's ComposedModel (sequential ones run case by case)


class _Gone(Exception):
    """The run was cancelled (or declared lost) while it ran: nothing is written."""


def load_subject(kind: str, row) -> LoadedSubject:
    """Base, adapter or federation from this worker's model cache (federations: the inference path's own key)."""
    from federation.engine.loading import load_base, load_members

    if kind == EvalRun.Subject.FEDERATION:
        composed, _lookup = worker.composed_for(row)
        return LoadedSubject(composed.model, composed.tokenizer, composed)
    worker.honour_clear_requests()
    if kind == EvalRun.Subject.ADAPTER:
        path = base_model_path(row.base_model)
        member = MemberSpec(label=row.label, path=row.abs_path())

        def load():
            base, tokenizer = load_base(path)
            return LoadedSubject(load_members(base, (member,)), tokenizer)

        key = ("eval-adapter", row.pk)
    else:
        path = base_model_path(row)

        def load():
            return LoadedSubject(*load_base(path))

        key = ("eval-base", row.pk)
    lookup = worker.model_cache().get_or_load(key, load)
    worker.publish_state()
    return lookup.value


def subject_of(run: EvalRun):
    if run.subject_kind == EvalRun.Subject.FEDERATION:
        federation = run.federation
        if federation.version != run.federation_version or not federation.is_ready:
            raise ServiceError(f"Federation {federation.name} changed or is not ready: evaluate it again.")
        return federation
    return run.adapter if run.subject_kind == EvalRun.Subject.ADAPTER else run.base_model


def _still_running(run: EvalRun, done: int) -> bool:
    changed = EvalRun.objects.filter(pk=run.pk, status=EvalRun.Status.RUNNING).update(
        progress_done=done, heartbeat_at=timezone.now()
    )
    return bool(changed)


def generate_outputs(run: EvalRun, loaded: LoadedSubject, prompts: list[str]) -> list[CaseOutput] | None:
    if loaded.composed is not None and loaded.composed.spec.method == SEQUENTIAL:
        # Chained stages switch adapters per prompt: case by case through the federation's own run path.
        params = GenerationParams(max_new_tokens=run.max_new_tokens, seed=run.seed)
        outputs = []
        for prompt in prompts:
            result = loaded.composed.run(prompt, params)
            finished = result.generated_tokens < run.max_new_tokens * len(loaded.composed.spec.members)
            outputs.append(CaseOutput(result.response, result.generated_tokens, result.latency_ms, finished))
            if not _still_running(run, len(outputs)):
                return None
        return outputs
    return generate_all(
        loaded.model,
        loaded.tokenizer,
        prompts,
        max_new_tokens=run.max_new_tokens,
        seed=run.seed,
        batch_size=run.batch_size,
        on_batch=lambda done: _still_running(run, done),
    )


def make_judge(spec: dict) -> tuple[judging.Judge, dict]:
    """The judge callable and what is recorded about it (kind, model, rubric, prompt template)."""
    config = spec.get("judge") or {}
    record = {"rubric": spec["rubric"], "prompt_template": judging.JUDGE_TEMPLATE}
    if config.get("kind") == "openai":
        record.update(kind="openai", base_url=config["base_url"], model=config["model"])
        return judging.openai_judge(config["base_url"], config["model"], config.get("api_key", "")), record
    from federation.evaluation.services import resolve_subject

    kind, row = resolve_subject(config.get("subject"))
    loaded = load_subject(kind, row)
    record.update(kind="console", model=f"{kind}:{getattr(row, 'label', None) or row.name}")

    def ask(prompts: list[str]) -> list[str]:
        answers = []
        for start in range(0, len(prompts), 8):
            batch = generate_batch(
                loaded.model,
                loaded.tokenizer,
                prompts[start : start + 8],
                max_new_tokens=JUDGE_MAX_NEW_TOKENS,
                seed=0,
            )
            answers += [o.text for o in batch]
        return answers

    return ask, record


def run_eval(run_id: int) -> str:
    try:
        return _run_eval(run_id)
    finally:
        from federation.evaluation.sweep_objectives import eval_ended

        eval_ended(run_id)  # a sweep trial's measurement: its sweep is told now


def _run_eval(run_id: int) -> str:
    run = (
        EvalRun.objects.select_related("suite", "base_model", "adapter", "federation")
        .filter(pk=run_id)
        .first()
    )
    if run is None:
        logger.warning("eval run %s is gone", run_id)
        return "missing"
    if not run.claim(worker.worker_id()):
        return run.status
    cases = list(run.suite.cases.order_by("index"))
    try:
        with Heartbeat(EvalRun, run.pk):
            loaded = load_subject(run.subject_kind, subject_of(run))
            started = time.perf_counter()
            outputs = generate_outputs(run, loaded, [c.prompt for c in cases])
            wall = time.perf_counter() - started
            if outputs is None:
                return "cancelled"
            rows, summary = score_run(run, cases, outputs, wall)
        with transaction.atomic():
            EvalCaseResult.objects.bulk_create(rows)
            if not run.finish(
                EvalRun.Status.COMPLETED,
                progress_done=len(cases),
                score=summary["score"],
                summary=summary,
                latency_p50_ms=summary["latency"]["latency_p50_ms"],
                latency_p95_ms=summary["latency"]["latency_p95_ms"],
                tokens_per_second=summary["latency"]["tokens_per_second"],
            ):
                raise _Gone
    except _Gone:
        logger.info("eval run %s ended while it ran; its results are dropped", run_id)
        return "cancelled"
    except Exception as exc:
        logger.exception("eval run %s failed", run_id)
        reason = str(exc) if isinstance(exc, judging.JudgeUnavailable) else worker.error_text(exc)
        run.finish(EvalRun.Status.FAILED, reason)
        return "failed"
    return "completed"


def score_run(
    run: EvalRun, cases, outputs: list[CaseOutput], wall: float
) -> tuple[list[EvalCaseResult], dict]:
    specs = run.suite.metrics
    scores = [score_case(specs, o.text, c.reference, c.checks) for c, o in zip(cases, outputs, strict=True)]
    for score, output in zip(scores, outputs, strict=True):
        if not output.finished:
            score.errors.append(f"generation hit the {run.max_new_tokens}-token limit without ending")
    judged: list[dict] = [{} for _ in cases]
    judge_record = None
    for spec in specs:
        if spec["name"] != "judge":
            continue
        judge, judge_record = make_judge(spec)
        judged = judging.run_judge(
            judge,
            spec["rubric"],
            [(c.prompt, o.text, c.reference) for c, o in zip(cases, outputs, strict=True)],
        )
        for score, verdict in zip(scores, judged, strict=True):
            score.scores["judge"] = verdict.get("score")
            if verdict.get("error"):
                score.errors.append(f"judge: {verdict['error']}")
    summary = summarize(specs, scores)
    summary["latency"] = latency_summary(outputs, wall)
    summary["failed_cases"] = sum(1 for s in scores if s.errors)
    summary["wall_seconds"] = wall
    summary["params"] = {
        "seed": run.seed,
        "batch_size": run.batch_size,
        "max_new_tokens": run.max_new_tokens,
        "greedy": True,
    }
    if judge_record is not None:
        judge_record["failed"] = sum(1 for j in judged if j.get("score") is None)
        judge_record["mean"] = mean([j.get("score") for j in judged])
        summary["judge"] = judge_record
    rows = [
        EvalCaseResult(
            run=run,
            case=case,
            output=output.text,
            generated_tokens=output.generated_tokens,
            latency_ms=output.latency_ms,
            finished=output.finished,
            scores=score.scores,
            fields=score.fields,
            judge=verdict,
            errors=score.errors,
        )
        for case, output, score, verdict in zip(cases, outputs, scores, judged, strict=True)
    ]
    return rows, summary
