"""RQ entry points: each takes an id, re-reads its row, calls the engine and writes the outcome back."""

from __future__ import annotations

import logging
import time
from dataclasses import replace

from django.db import transaction
from django.utils import timezone

from federation import gates, services
from federation import inference_worker as worker
from federation.engine.types import GenerationParams
from federation.models import ABTest, Federation, GateTraining, InferenceRun, JobStatus
from rmnconsole.core.errors import ServiceError
from rmnconsole.core.heartbeat import Heartbeat
from rmnconsole.core.paths import data_root, relative_to_root

logger = logging.getLogger(__name__)
QUEUED, RUNNING = JobStatus.QUEUED, JobStatus.RUNNING


def run_inference(run_id: int) -> None:
    """Execute one test prompt on the inference worker (its cache keeps the composed model for the next one)."""
    run = InferenceRun.objects.filter(pk=run_id).first()
    if run is None:
        logger.warning("inference run %s is gone", run_id)
        return
    if not run.claim(worker.worker_id()):
        return
    try:
        federation = Federation.objects.select_related("base_model").get(pk=run.federation_id)
        if not federation.is_ready:
            raise ServiceError(f"Federation {federation.name} is {federation.status}, not ready.")
        with Heartbeat(InferenceRun, run.pk):
            composed, lookup = worker.composed_for(federation)
            _save_fidelity(federation, composed)
            params = GenerationParams(
                max_new_tokens=run.max_new_tokens, temperature=run.temperature, seed=run.seed
            )
            result = composed.run(run.prompt, params)
    except Exception as exc:
        logger.exception("inference run %s failed", run_id)
        run.finish(JobStatus.FAILED, worker.error_text(exc))
        return
    run.finish(
        JobStatus.COMPLETED,
        federation_version=federation.version,
        response=result.response,
        prompt_tokens=result.prompt_tokens,
        generated_tokens=result.generated_tokens,
        latency_ms=result.latency_ms,
        ttft_ms=result.ttft_ms,
        tokens_per_second=result.tokens_per_second,
        adapters_used=result.adapters_used,
        stages=result.stages,
        cache_hit=lookup.hit,
        load_ms=lookup.load_ms,
    )


def _save_fidelity(federation: Federation, composed) -> None:
    fidelity = getattr(composed, "fidelity", None)
    if fidelity is not None and federation.fidelity.get("version") != federation.version:
        Federation.objects.filter(pk=federation.pk, version=federation.version).update(
            fidelity={**fidelity.as_dict(), "version": federation.version}
        )


def compute_fidelity(federation_id: int, version: int) -> None:
    """Compose once to measure ‖ΔW_combined − Σ wᵢΔWᵢ‖ / ‖Σ wᵢΔWᵢ‖ for the page (default queue)."""
    from federation.engine import runtime

    federation = (
        Federation.objects.select_related("base_model").filter(pk=federation_id, version=version).first()
    )
    if federation is None or federation.fidelity.get("version") == version:
        return
    try:
        composed = runtime.build(replace(services.composition_spec(federation), merged=False), device="cpu")
    except Exception as exc:
        logger.exception("composing federation %s failed", federation_id)
        Federation.objects.filter(pk=federation_id, version=version).update(
            status=Federation.Status.FAILED, status_reason=f"Composition failed: {worker.error_text(exc)}"
        )
        return
    _save_fidelity(federation, composed)


def train_gate(training_id: int) -> None:
    """Train a gated federation's X-LoRA classifier on its data mix and save it with the federation."""
    from federation.engine import gate, runtime
    from federation.engine.data import mix_examples, read_examples

    training = GateTraining.objects.select_related("federation__base_model").filter(pk=training_id).first()
    if training is None or not training.claim(worker.worker_id()):
        return
    federation = training.federation
    try:
        if federation.version != training.federation_version:
            raise ServiceError("Superseded by a newer gate training.")
        options = federation.options
        per_source = int(options.get("gate_examples_per_adapter", 200))
        sources = [read_examples(data_root() / path, limit=per_source * 5) for path in training.dataset_paths]
        examples = mix_examples(sources, per_source)
        if not examples:
            raise ServiceError("The gate's training data has no readable examples.")
        spec = replace(services.composition_spec(federation), gate_path=None)
        with Heartbeat(GateTraining, training.pk):  # composing a large base model takes minutes, silently
            composed = runtime.build(spec)
        GateTraining.objects.filter(pk=training.pk).update(
            num_examples=len(examples), device=str(composed.device)
        )
        progress = _GateProgress(training)
        result = gate.train_gate(
            composed.model,
            composed.tokenizer,
            examples,
            steps=training.total_steps,
            learning_rate=training.learning_rate,
            batch_size=int(options.get("gate_batch_size", 4)),
            on_step=progress,
        )
        if progress.cancelled:
            training.finish(JobStatus.CANCELLED, "cancelled")
            Federation.objects.filter(pk=federation.pk, version=training.federation_version).update(
                status=Federation.Status.FAILED, status_reason="Gate training was cancelled."
            )
            return
        path = gate.save_gate(composed.model, gates.gate_file(federation))
    except Exception as exc:
        logger.exception("gate training %s failed", training_id)
        reason = worker.error_text(exc)
        training.finish(JobStatus.FAILED, reason)
        Federation.objects.filter(pk=federation.pk, version=training.federation_version).update(
            status=Federation.Status.FAILED, status_reason=f"Gate training failed: {reason}"
        )
        return
    with transaction.atomic():
        if not training.finish(
            JobStatus.COMPLETED,
            current_step=result["steps"],
            progress_pct=100.0,
            first_loss=result["first_loss"],
            loss=result["final_loss"],
        ):
            return  # cancelled or declared lost meanwhile: that end stands, the gate is not installed
        Federation.objects.filter(pk=federation.pk, version=training.federation_version).update(
            gate_path=relative_to_root(path), status=Federation.Status.READY, status_reason=""
        )


class _GateProgress:
    """Write progress at most once a second and notice a cancel made from the UI."""

    def __init__(self, training: GateTraining) -> None:
        self.training = training
        self.last_write = 0.0
        self.cancelled = False

    def __call__(self, step: int, total: int, loss: float) -> bool:
        now = time.monotonic()
        if now - self.last_write < 1.0 and step < total:
            return True
        self.last_write = now
        GateTraining.objects.filter(pk=self.training.pk).update(
            current_step=step, progress_pct=100.0 * step / total, loss=loss, heartbeat_at=timezone.now()
        )
        status = GateTraining.objects.filter(pk=self.training.pk).values_list("status", flat=True).first()
        self.cancelled = status != RUNNING
        return not self.cancelled


def clear_model_cache() -> int:
    """Runs on the inference queue, so it lands in a worker process that holds a cache."""
    return len(worker.clear_local())


def run_abtest(abtest_id: int) -> None:
    from federation.abtests import end_side_runs, run_abtest_rows

    test = (
        ABTest.objects.select_related("federation_a", "federation_b", "suite", "run_a", "run_b")
        .filter(pk=abtest_id)
        .first()
    )
    if test is None or not test.claim(worker.worker_id()):
        return
    try:
        with Heartbeat(ABTest, test.pk):
            results, verdict = run_abtest_rows(test)
    except Exception as exc:
        logger.exception("A/B test %s failed", abtest_id)
        reason = worker.error_text(exc)
        test.finish(JobStatus.FAILED, reason)
        end_side_runs(test, f"A/B test {test.pk} failed: {reason}"[:2000])
        return
    test.finish(JobStatus.COMPLETED, results=results, verdict=verdict)
