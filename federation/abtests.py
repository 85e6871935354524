"""A/B comparisons: two federations, one prompt set, the same seed and parameters; accuracy with a paired bootstrap CI."""

from __future__ import annotations

from django.db import transaction

from federation import inference_worker as worker
from federation.engine.abstats import exact_match, paired_bootstrap, percentile, token_f1, verdict
from federation.engine.data import read_examples, validation_split
from federation.engine.types import GenerationParams
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


@transaction.atomic
def create_abtest(
    *,
    federation_a: Federation,
    federation_b: Federation,
    name: str = "",
    prompts_text: str = "",
    prompts: list[dict] | None = None,
    dataset_path: str = "",
    limit: int = 20,
    max_new_tokens: int = 64,
    temperature: float = 0.0,
    seed: int = 0,
    user=None,
) -> ABTest:
    if federation_a.pk == federation_b.pk:
        raise ServiceError("Pick two different federations to compare.", field="federation_b")
    for side, federation in (("A", federation_a), ("B", federation_b)):
        if not federation.is_ready:
            raise ServiceError(
                f"Federation {side} ({federation.name}) is {federation.status}, not ready.",
                field="federation_a",
            )
    max_new_tokens, temperature, seed = check_generation_params(max_new_tokens, temperature, seed)
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_PROMPTS:
        raise ServiceError(f"Limit must be between 1 and {MAX_PROMPTS}.", field="limit")
    source, stored_path = "typed", ""
    if dataset_path:
        source = "dataset"
        stored_path, items = dataset_prompts(dataset_path, limit)
    else:
        items = list(prompts or []) + parse_prompt_lines(prompts_text)
        items = [
            {"prompt": str(p.get("prompt", "")).strip(), "reference": p.get("reference") or None}
            for p in items
        ]
        items = [p for p in items if p["prompt"]]
    if not items:
        raise ServiceError("Type at least one prompt (one per line) or choose a dataset.", field="prompts")
    for item in items:
        check_text(item["prompt"], "prompts", "A prompt")
        item["reference"] = (
            check_text(item["reference"], "prompts", "A reference") if item["reference"] else None
        )
    if len(items) > MAX_PROMPTS:
        raise ServiceError(f"At most {MAX_PROMPTS} prompts per A/B test.", field="prompts")
    test = ABTest.objects.create(
        name=check_text(name or f"{federation_a.name} vs {federation_b.name}", "name", "The name").strip()[
            :200
        ],
        federation_a=federation_a,
        federation_b=federation_b,
        prompt_source=source,
        dataset_path=stored_path,
        prompts=items,
        max_new_tokens=max_new_tokens,
        temperature=temperature,
        seed=seed,
        created_by=signed_in(user),
    )
    audit.record(user, "federation.abtest.start", test, f"A/B {test.name} on {len(items)} prompts")
    test.enqueue_on_commit()
    return test


def get_abtest(abtest_id: int) -> ABTest:
    return get_row(ABTest.objects.select_related("federation_a", "federation_b"), abtest_id, "A/B test")


def _side(test: ABTest, federation: Federation, params: GenerationParams) -> list[dict]:
    composed, _lookup = worker.composed_for(federation)
    outputs = []
    for item in test.prompts:
        result = composed.run(item["prompt"], params)
        row = {
            "response": result.response,
            "latency_ms": result.latency_ms,
            "generated_tokens": result.generated_tokens,
        }
        if item.get("reference"):
            row["exact_match"] = exact_match(result.response, item["reference"])
            row["token_f1"] = token_f1(result.response, item["reference"])
        outputs.append(row)
        ABTest.objects.filter(pk=test.pk).update(progress_done=test.progress_done + len(outputs))
    test.progress_done += len(outputs)
    return outputs


def _summary(outputs: list[dict]) -> dict:
    latencies = [o["latency_ms"] for o in outputs]
    scored = [o for o in outputs if "exact_match" in o]
    return {
        "latency_p50_ms": percentile(latencies, 50),
        "latency_p95_ms": percentile(latencies, 95),
        "tokens": sum(o["generated_tokens"] for o in outputs),
        "exact_match": sum(o["exact_match"] for o in scored) / len(scored) if scored else None,
        "token_f1": sum(o["token_f1"] for o in scored) / len(scored) if scored else None,
    }


def run_abtest_rows(test: ABTest) -> tuple[dict, str]:
    """Both sides with the same params (A's prompts all first: a cache of one model still serves it)."""
    params = GenerationParams(
        max_new_tokens=test.max_new_tokens, temperature=test.temperature, seed=test.seed
    )
    for federation in (test.federation_a, test.federation_b):
        federation.refresh_from_db()
        if not federation.is_ready:
            raise ServiceError(f"Federation {federation.name} is {federation.status}, not ready.")
    side_a = _side(test, test.federation_a, params)
    side_b = _side(test, test.federation_b, params)
    rows = [{**item, "a": a, "b": b} for item, a, b in zip(test.prompts, side_a, side_b, strict=True)]
    paired = [(a, b) for a, b in zip(side_a, side_b, strict=True) if "token_f1" in a]
    differences = {}
    if paired:
        for metric in ("exact_match", "token_f1"):
            differences[metric] = paired_bootstrap(
                [a[metric] for a, _ in paired], [b[metric] for _, b in paired], metric=metric, seed=test.seed
            ).as_dict()
    primary = None
    if differences:
        from federation.engine.abstats import PairedDifference

        primary = PairedDifference(**{k: v for k, v in differences["token_f1"].items() if k != "significant"})
    results = {
        "rows": rows,
        "a": _summary(side_a),
        "b": _summary(side_b),
        "differences": differences,
        "scored_prompts": len(paired),
    }
    return results, verdict(primary, test.federation_a.name, test.federation_b.name)
