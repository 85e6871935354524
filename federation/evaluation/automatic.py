"""Automatic post-training evaluation: a completed training job's adapter is evaluated on the suite attached to its
dataset (else a suite made from the job's own validation split), and the base model once per suite."""

from __future__ import annotations

import logging
import re
from pathlib import Path

from django.conf import settings
from django.db import transaction

from federation.evaluation.engine.metrics import parse_json
from federation.evaluation.models import EvalRun, EvalSuite
from federation.evaluation.suites import MAPPING_METRICS, create_suite
from rmnconsole.core import providers
from rmnconsole.core.paths import data_root

logger = logging.getLogger(__name__)
AUTO_CASES = 50


def register_adapter_figures() -> None:
    from federation.evaluation.services import adapter_figures

    providers.register_adapter_figures(adapter_figures)


def _is_json_object(text: str | None) -> bool:
    try:
        return isinstance(parse_json(text or ""), dict)
    except ValueError:
        return False


def held_out_cases(job) -> list[dict]:
    """The rows training held out for eval loss (same split, same seed), or the dataset's 10% split when it held none."""
    from federation.engine.data import parse_example, read_examples, validation_split
    from training.engine.data import load_training_data

    path = data_root() / job.dataset_path
    config = job.config or {}
    loaded = load_training_data(
        path, job.training_type, float(config.get("validation_split", 0.1)), int(config.get("seed", 42))
    )
    examples = [e for e in (parse_example(r) for r in loaded.eval_rows) if e is not None]
    if not examples:
        examples = validation_split(read_examples(path))
    return [{"prompt": e.prompt, "reference": e.reference} for e in examples if e.prompt][:AUTO_CASES]


def suite_name(job) -> str:
    """The dataset's name (or its file's stem) + "-validation", inside the one name rule."""
    stem = job.dataset.name if job.dataset_id else Path(job.dataset_path).stem
    return (re.sub(r"[^A-Za-z0-9_.-]+", "_", stem).strip("_.-") or f"job{job.pk}")[:80] + "-validation"


def suite_for(job) -> EvalSuite | None:
    """The newest suite attached to the job's dataset, else a new one from the job's validation split."""
    attached = (
        EvalSuite.objects.filter(dataset_id=job.dataset_id)
        if job.dataset_id
        else EvalSuite.objects.filter(
            source=EvalSuite.Source.TRAINING, name=suite_name(job), dataset__isnull=True
        )
    )
    found = attached.order_by("-created_at").first()
    if found is not None:
        return found
    cases = held_out_cases(job)
    if not cases:
        return None
    json_answers = all(_is_json_object(c["reference"]) for c in cases)
    return create_suite(
        name=suite_name(job),
        cases=cases,
        metrics=MAPPING_METRICS if json_answers else None,
        source=EvalSuite.Source.TRAINING,
        source_note=f"validation split of {job.dataset_path} (training job #{job.pk})",
        dataset=job.dataset if job.dataset_id else None,
        max_new_tokens=256 if json_answers else 64,
    )


def evaluate_after_training(job, adapter) -> list[EvalRun]:
    from federation.evaluation.services import submit_eval

    with transaction.atomic():
        suite = suite_for(job)
        if suite is None:
            return []
        runs = [submit_eval(adapter, suite, training_job=job)]
        base_measured = EvalRun.objects.filter(
            suite=suite,
            subject_kind=EvalRun.Subject.BASE,
            base_model=adapter.base_model,
            status__in=(EvalRun.Status.QUEUED, EvalRun.Status.RUNNING, EvalRun.Status.COMPLETED),
        ).exists()
        if not base_measured:
            runs.append(submit_eval(adapter.base_model, suite))
    return runs


def on_training_completed(sender, job, adapter, **_kwargs) -> None:
    if not getattr(settings, "RMN_AUTO_EVALUATE", True):
        return
    try:
        runs = evaluate_after_training(job, adapter)
    except Exception:
        logger.exception("automatic evaluation of %s could not start", adapter.label)
        raise
    logger.info("automatic evaluation of %s: %d run(s) queued", adapter.label, len(runs))
