"""The user guide's Python functions: compose_federation(...) → a federation with .infer(prompt); test_federation(...)."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

from federation import config_io, runs, services
from federation.models import Federation, Method
from rmnconsole.core.errors import NotFound, ServiceError
from rmnconsole.core.users import resolve_user


def _result(run) -> dict:
    return {
        "run_id": run.pk,
        "status": run.status,
        "response": run.response,
        "error": run.error,
        "prompt_tokens": run.prompt_tokens,
        "generated_tokens": run.generated_tokens,
        "latency_ms": run.latency_ms,
        "ttft_ms": run.ttft_ms,
        "tokens_per_second": run.tokens_per_second,
        "adapters_used": run.adapters_used,
        "stages": run.stages,
        "cache_hit": run.cache_hit,
    }


@dataclass
class FederationHandle:
    """A saved federation; .infer runs in this process (it keeps its own model cache, like the worker)."""

    federation: Federation

    def __getattr__(self, name):
        return getattr(self.federation, name)

    def refresh(self) -> FederationHandle:
        self.federation.refresh_from_db()
        return self

    def infer(
        self, prompt: str, *, max_new_tokens: int = 64, temperature: float = 0.0, seed: int = 0, user=None
    ) -> dict:
        run = runs.submit_inference(
            self.federation,
            prompt,
            max_new_tokens=max_new_tokens,
            temperature=temperature,
            seed=seed,
            user=user,
            enqueue=False,
        )
        return _result(_run_inline(run))


def compose_federation(
    base_model: str | None = None,
    retailer_adapter: str | None = None,
    task_adapter: str | None = None,
    method: str = Method.ADDITIVE,
    *,
    name: str | None = None,
    domain_adapters: tuple[str, ...] = (),
    weights: dict[str, float] | None = None,
    options: dict | None = None,
    train_gate_now: bool = True,
    user=None,
    base: str | None = None,
    retailer: str | None = None,
    task: str | None = None,
) -> FederationHandle:
    """Compose a federation (the guide's keywords; base=/retailer=/task= also accepted).

    A gated federation's gate is trained right here unless train_gate_now=False (then a worker does it).
    """
    base_name = base_model or base
    if not base_name:
        raise ServiceError("compose_federation needs base_model=…", field="base_model")
    members = services.assemble_members(
        retailer=retailer_adapter or retailer,
        task=task_adapter or task,
        domains=domain_adapters,
        weights=weights,
    )
    name = name or _free_name("+".join(str(m.adapter) for m in members) + f"-{method}")
    federation = services.create_federation(
        name=name, base_model=base_name, members=members, method=method, options=options, user=user
    )
    if federation.method == Method.GATED and train_gate_now:
        from federation.tasks import train_gate

        training = federation.gate_trainings.order_by("-pk").first()
        train_gate(training.pk)
        federation.refresh_from_db()
    return FederationHandle(federation)


def import_federation(
    config: dict | str | Path | bytes, *, name: str | None = None, user=None
) -> FederationHandle:
    """Import an exported federation config: a dict, its JSON text or bytes, or the path of its file."""
    if isinstance(config, Path):
        try:
            config = config.read_bytes()
        except OSError as exc:
            raise ServiceError(f"Cannot read {config.name}: {exc.strerror}", field="config") from None
    elif isinstance(config, dict):
        config = json.dumps(config)  # the same size cap and parser as a file
    return FederationHandle(config_io.import_config_file(config, user=resolve_user(user), name=name))


def test_federation(federation, prompt: str, **params) -> dict:
    """Run one prompt: response, token counts, latency (total, TTFT, tokens/s) and the adapters used."""
    handle = (
        federation
        if isinstance(federation, FederationHandle)
        else FederationHandle(_as_federation(federation))
    )
    return handle.infer(prompt, **params)


test_federation.__test__ = False  # a facade function, not a pytest test


def _as_federation(value) -> Federation:
    if isinstance(value, Federation):
        return value
    if isinstance(value, int):
        return services.get_federation(value)
    found = Federation.objects.filter(name=str(value)).first()
    if found is None:
        raise NotFound(f"Unknown federation {value!r}.")
    return found


def _free_name(stem: str) -> str:
    # A stem built from adapter labels ("a v1+b") is made to fit the name rule.
    stem = re.sub(r"[^A-Za-z0-9_.-]+", "_", stem).strip("_.")[:90] or "federation"
    name, counter = stem, 1
    while Federation.objects.filter(name=name).exists():
        counter += 1
        name = f"{stem}-{counter}"
    return name


def _run_inline(run) -> object:
    """Execute a saved run in this process: the facade's caller is its own worker and model cache."""
    from federation.tasks import run_inference

    run_inference(run.pk)
    run.refresh_from_db()
    return run
