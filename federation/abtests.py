"""A/B comparisons: two federations on one eval suite, generated and scored by the eval runs' own code path
(batched greedy generation, the suite's metrics), then compared case by case with a paired bootstrap CI.

Typed prompts or a dataset's validation split become a new eval suite, so every A/B prompt set is a suite
that can be reused; each side is an EvalRun on that suite (it shows on the suite's leaderboard and diff).
"""

from __future__ import annotations

from django.db import transaction
from django.utils.text import slugify

from federation.engine.abstats import PairedDifference, paired_bootstrap, verdict
from federation.engine.data import read_examples, validation_split
from federation.evaluation import services as eval_services
from federation.evaluation import suites as eval_suites
from federation.evaluation.engine.metrics import METRICS
from federation.evaluation.models import EvalCaseResult, EvalRun, EvalSuite
from federation.gates import dataset_file
from federation.models import ABTest, Federation
from federation.runs import check_generation_params
from federation.services import check_text, get_row
from rmnconsole.core import audit
from rmnconsole.core.errors import ServiceError
from rmnconsole.core.paths import relative_to_root
from rmnconsole.core.users import signed_in

MAX_PROMPTS = 200
REFERENCE_SEPARATOR = "||"
REFERENCE_METRICS = [{"name": "token_f1"}, {"name": "exact_match"}]  # token-F1 first: the verdict's metric


def parse_prompt_lines(text: str) -> list[dict]:
    """One prompt per line; 'prompt || reference answer' adds a reference."""
    prompts = []
    for line in (text or "").splitlines():
        if not line.strip():
            continue
        prompt, _sep, reference = line.partition(REFERENCE_SEPARATOR)
        if prompt.strip():
            prompts.append({"prompt": prompt.strip(), "reference": reference.strip() or None})
    return prompts


def dataset_prompts(dataset_path: str, limit: int) -> tuple[str, list[dict]]:
    """The validation split of a dataset under datasets/: its prompts with the reference answers."""
    path = dataset_file(dataset_path, field="dataset_path")
    rows = [e for e in validation_split(read_examples(path)) if e.prompt]
    if not rows:
        raise ServiceError(
            f"Dataset {dataset_path} has no prompt/answer examples in its validation split.",
            field="dataset_path",
        )
    return relative_to_root(path), [{"prompt": e.prompt, "reference": e.reference} for e in rows[:limit]]


def _typed_items(prompts_text: str, prompts: list[dict] | None) -> list[dict]:
    items = list(prompts or []) + parse_prompt_lines(prompts_text)
    items = [
        {"prompt": str(p.get("prompt", "")).strip(), "reference": p.get("reference") or None} for p in items
    ]
    return [p for p in items if p["prompt"]]


def _suite_for_items(name: str, items: list[dict], source: str, note: str, max_new_tokens: int, user):
    """The prompt set as a new eval suite: scored by token-F1 and exact match when every prompt has a reference,
    side by side only (no metric) when none has; a mix would score a different subset per metric."""
    with_reference = sum(1 for item in items if item["reference"])
    if 0 < with_reference < len(items):
        raise ServiceError(
            f"{with_reference} of {len(items)} prompts have a reference answer: give every prompt one "
            f"(after '{REFERENCE_SEPARATOR}') or none.",
            field="prompts",
        )
    return eval_suites.create_suite(
        name=f"ab-{slugify(name)[:60] or 'prompts'}",
        cases=items,
        metrics=list(REFERENCE_METRICS) if with_reference else [],
        source=source,
        source_note=note,
        max_new_tokens=max_new_tokens,
        user=user,
    )


def _check_sides(federation_a: Federation, federation_b: Federation) -> None:
    if federation_a.pk == federation_b.pk:
        raise ServiceError("Pick two different federations to compare.", field="federation_b")
    for side, federation in (("A", federation_a), ("B", federation_b)):
        if not federation.is_ready:
            raise ServiceError(
                f"Federation {side} ({federation.name}) is {federation.status}, not ready.",
                field="federation_a",
            )


@transaction.atomic
def create_abtest(
    *,
    federation_a: Federation,
    federation_b: Federation,
    name: str = "",
    suite=None,
    prompts_text: str = "",
    prompts: list[dict] | None = None,
    dataset_path: str = "",
    limit: int = 20,
    max_new_tokens: int | None = None,
    temperature: float = 0.0,
    seed: int = 0,
    user=None,
) -> ABTest:
    """Save the test and its two eval runs (one per side, on the same suite, seed and token budget)."""
    _check_sides(federation_a, federation_b)
    typed = _typed_items(prompts_text, prompts)
    if sum([bool(suite), bool(dataset_path), bool(typed)]) > 1:
        raise ServiceError("Choose one prompt set: a suite, a dataset or typed prompts.", field="prompts")
    if suite and max_new_tokens is None:
        max_new_tokens = eval_suites.resolve_suite(suite).max_new_tokens
    max_new_tokens, temperature, seed = check_generation_params(
        64 if max_new_tokens is None else max_new_tokens, temperature, seed
    )
    if temperature:
        raise ServiceError(
            "A/B tests generate greedily, like eval runs (the same answers on every repeat): set temperature 0.",
            field="temperature",
        )
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_PROMPTS:
        raise ServiceError(f"Limit must be between 1 and {MAX_PROMPTS}.", field="limit")
    name = check_text(name or f"{federation_a.name} vs {federation_b.name}", "name", "The name").strip()[:200]
    source, stored_path = "typed", ""
    if suite:
        source, suite = "suite", eval_suites.resolve_suite(suite)
    elif dataset_path:
        source = "dataset"
        stored_path, items = dataset_prompts(dataset_path, limit)
    elif typed:
        items = typed
    else:
        raise ServiceError(
            "Type at least one prompt (one per line), choose a dataset or an eval suite.", field="prompts"
        )
    if not suite:
        for item in items:
            check_text(item["prompt"], "prompts", "A prompt")
            if item["reference"]:
                check_text(item["reference"], "prompts", "A reference")
        if len(items) > MAX_PROMPTS:
            raise ServiceError(f"At most {MAX_PROMPTS} prompts per A/B test.", field="prompts")
        note = f"A/B test {name}" + (f" ({stored_path} validation split)" if stored_path else "")
        suite = _suite_for_items(name, items, EvalSuite.Source.ABTEST, note, max_new_tokens, user)
    runs = [
        eval_services.submit_eval(
            federation, suite, seed=seed, max_new_tokens=max_new_tokens, user=user, enqueue=False
        )
        for federation in (federation_a, federation_b)
    ]
    test = ABTest.objects.create(
        name=name,
        federation_a=federation_a,
        federation_b=federation_b,
        suite=suite,
        run_a=runs[0],
        run_b=runs[1],
        prompt_source=source,
        dataset_path=stored_path,
        prompts=[{"prompt": c.prompt, "reference": c.reference} for c in suite.cases.order_by("index")],
        max_new_tokens=max_new_tokens,
        temperature=0.0,
        seed=seed,
        created_by=signed_in(user),
    )
    audit.record(user, "federation.abtest.start", test, f"A/B {test.name} on {suite.label}")
    test.enqueue_on_commit()
    return test


def get_abtest(abtest_id: int) -> ABTest:
    return get_row(
        ABTest.objects.select_related("federation_a", "federation_b", "suite", "run_a", "run_b"),
        abtest_id,
        "A/B test",
    )


def _side_row(result: EvalCaseResult, primary: str) -> dict:
    return {
        "score": result.scores.get(primary),
        "errors": result.errors,
        "response": result.output,
        "latency_ms": result.latency_ms,
        "generated_tokens": result.generated_tokens,
        **{name: value for name, value in result.scores.items() if value is not None},
    }


def _side_summary(run: EvalRun) -> dict:
    latency = run.summary.get("latency", {})
    return {
        "run_id": run.pk,
        "latency_p50_ms": run.latency_p50_ms,
        "latency_p95_ms": run.latency_p95_ms,
        "tokens": latency.get("generated_tokens", 0),
        "tokens_per_second": run.tokens_per_second,
        "score": run.score,
        **run.summary.get("metrics", {}),
    }


def compare_runs(run_a: EvalRun, run_b: EvalRun, *, seed: int = 0) -> dict:
    """Two completed runs on one suite, case by case: per-metric paired bootstrap CI of B − A."""
    suite = run_a.suite
    by_case = {side: {} for side in ("a", "b")}
    for side, run in (("a", run_a), ("b", run_b)):
        for result in EvalCaseResult.objects.filter(run=run):
            by_case[side][result.case_id] = result
    cases = list(suite.cases.order_by("index"))
    rows = [
        {
            "prompt": case.prompt,
            "reference": case.reference,
            "a": _side_row(by_case["a"][case.pk], suite.primary_metric),
            "b": _side_row(by_case["b"][case.pk], suite.primary_metric),
        }
        for case in cases
    ]
    differences, metrics = {}, []
    for spec in suite.metrics:
        metric = spec["name"]
        paired = [
            (by_case["a"][c.pk].scores.get(metric), by_case["b"][c.pk].scores.get(metric)) for c in cases
        ]
        paired = [(a, b) for a, b in paired if a is not None and b is not None]
        if not paired:
            continue
        difference = paired_bootstrap(
            [a for a, _ in paired], [b for _, b in paired], metric=metric, seed=seed
        ).as_dict()
        differences[metric] = difference
        metrics.append({"name": metric, "label": METRICS[metric].label, "cases": len(paired), **difference})
    return {
        "rows": rows,
        "a": _side_summary(run_a),
        "b": _side_summary(run_b),
        "differences": differences,
        "metrics": metrics,
        "suite": {"id": suite.pk, "label": suite.label, "primary_metric": suite.primary_metric},
        "scored_prompts": max((m["cases"] for m in metrics), default=0),
    }


def _primary(results: dict, suite: EvalSuite) -> tuple[PairedDifference | None, str]:
    found = results["differences"].get(suite.primary_metric)
    if found is None:
        return None, ""
    fields = {k: v for k, v in found.items() if k != "significant"}
    return PairedDifference(**fields), METRICS[suite.primary_metric].label


def run_abtest_rows(test: ABTest) -> tuple[dict, str]:
    """Both sides through the eval runs' task, in this worker (A's cases all first: a cache of one model still
    serves it), then the comparison."""
    from federation.evaluation.tasks import run_eval

    if test.run_a is None or test.run_b is None:
        raise ServiceError("This A/B test was saved before A/B tests ran on eval suites: start it again.")
    done = 0
    for side, run in (("A", test.run_a), ("B", test.run_b)):
        run_eval(run.pk)
        run.refresh_from_db()
        if run.status != EvalRun.Status.COMPLETED:
            raise ServiceError(
                f"Side {side} (eval run {run.pk}) {run.status}: {run.error or 'no reason given'}"
            )
        done += run.progress_total
        ABTest.objects.filter(pk=test.pk).update(progress_done=done)
    test.progress_done = done
    results = compare_runs(test.run_a, test.run_b, seed=test.seed)
    primary, label = _primary(results, test.suite)
    return results, verdict(primary, test.federation_a.name, test.federation_b.name, label=label)


def end_side_runs(test: ABTest, reason: str) -> None:
    """The sides that never ran end with the test (they have no RQ job of their own to recover them)."""
    for run in (test.run_a, test.run_b):
        if run is not None:
            run.refresh_from_db()
            run.finish(EvalRun.Status.FAILED, reason)
