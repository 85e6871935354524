"""Test-prompt use cases: submit an inference run to the worker, run one in-process (facade), clear the model cache."""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from federation import inference_worker as worker
from federation.models import Federation, InferenceRun
from federation.services import check_text, get_row, require_staff
from rmnconsole.core import audit, queues
from rmnconsole.core.errors import Conflict, ServiceError
from rmnconsole.core.users import signed_in

MAX_PROMPT_CHARS = 8000
MAX_NEW_TOKENS = 1024


def check_generation_params(max_new_tokens, temperature, seed) -> tuple[int, float, int]:
    if (
        isinstance(max_new_tokens, bool)
        or not isinstance(max_new_tokens, int)
        or not 1 <= max_new_tokens <= MAX_NEW_TOKENS
    ):
        raise ServiceError(
            f"Max new tokens must be a whole number from 1 to {MAX_NEW_TOKENS}.", field="max_new_tokens"
        )
    if isinstance(temperature, bool) or not isinstance(temperature, int | float) or not 0 <= temperature <= 2:
        raise ServiceError("Temperature must be between 0 (greedy) and 2.", field="temperature")
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed <= 2**31 - 1:
        raise ServiceError("Seed must be a whole number from 0 to 2147483647.", field="seed")
    return max_new_tokens, float(temperature), seed


def check_prompt(prompt) -> str:
    prompt = (prompt or "").strip() if isinstance(prompt, str) else ""
    if not prompt:
        raise ServiceError("Enter a test prompt.", field="prompt")
    check_text(prompt, "prompt", "The prompt")
    if len(prompt) > MAX_PROMPT_CHARS:
        raise ServiceError(f"The prompt is longer than {MAX_PROMPT_CHARS} characters.", field="prompt")
    return prompt


@transaction.atomic
def submit_inference(
    federation: Federation,
    prompt: str,
    *,
    max_new_tokens: int = 64,
    temperature: float = 0.0,
    seed: int = 0,
    user=None,
    enqueue: bool = True,
) -> InferenceRun:
    """Save an InferenceRun and put it on the inference queue once the transaction commits."""
    prompt = check_prompt(prompt)
    max_new_tokens, temperature, seed = check_generation_params(max_new_tokens, temperature, seed)
    federation = Federation.objects.select_for_update().get(pk=federation.pk)
    if not federation.is_ready:
        detail = f" ({federation.status_reason})" if federation.status_reason else ""
        raise Conflict(f"Federation {federation.name} is {federation.status}, not ready{detail}.")
    run = InferenceRun.objects.create(
        federation=federation,
        federation_version=federation.version,
        prompt=prompt,
        max_new_tokens=max_new_tokens,
        temperature=temperature,
        seed=seed,
        created_by=signed_in(user),
    )
    audit.record(user, "federation.infer", run, f"test prompt on {federation.name} v{federation.version}")
    if enqueue:
        run.enqueue_on_commit()
    return run


def get_run(run_id: int) -> InferenceRun:
    return get_row(InferenceRun.objects.select_related("federation"), run_id, "Inference run")


def request_cache_clear(user) -> int:
    """Admins only: every inference worker drops its cached models (before its next job, and right now via a task)."""
    require_staff(user, "clear the model cache")
    epoch = worker.request_clear()
    queues.enqueue(queues.INFERENCE, "federation.tasks.clear_model_cache", job_id=f"clear-cache-{epoch}")
    audit.record(
        user,
        "federation.cache_clear",
        "model-cache",
        "cleared the inference model cache",
        epoch=epoch,
        at=timezone.now().isoformat(),
    )
    return epoch
