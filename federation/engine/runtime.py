"""A composed, ready-to-run federation model: additive (merged or not), gated or sequential."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import torch

from federation.engine import compose, gate
from federation.engine.generate import encode_prompt, generate_timed
from federation.engine.loading import load_base, load_members, member_name, set_member_scale
from federation.engine.types import (
    ADDITIVE,
    DEFAULT_NEXT_STAGE_TEMPLATE,
    DEFAULT_STAGE_TEMPLATE,
    GATED,
    SEQUENTIAL,
    CompositionSpec,
    FidelityReport,
    GenerationParams,
    MemberSpec,
    RunResult,
)


def render_stage_prompt(template: str, original: str, previous: str | None, index: int) -> str:
    """Plain placeholder substitution: a user template never reaches str.format."""
    template = template or (DEFAULT_STAGE_TEMPLATE if index == 0 else DEFAULT_NEXT_STAGE_TEMPLATE)
    return template.replace("{input}", original).replace("{previous}", previous or "")


@dataclass
class ComposedModel:
    spec: CompositionSpec
    model: torch.nn.Module
    tokenizer: object
    load_ms: float = 0.0
    fidelity: FidelityReport | None = None
    extra: dict = field(default_factory=dict)

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    def run(self, prompt: str, params: GenerationParams) -> RunResult:
        if self.spec.method == SEQUENTIAL:
            return self._run_sequential(prompt, params)
        if self.spec.method == GATED:
            with gate.ScalingsLog(self.model):
                result = generate_timed(self.model, self.tokenizer, prompt, params)
                shares = gate.routing_shares(self.model)
            used = [
                {"adapter": m.label, "role": m.role, "share": share}
                for m, share in zip(self.spec.members, shares, strict=False)
            ]
        else:
            result = generate_timed(self.model, self.tokenizer, prompt, params)
            used = [{"adapter": m.label, "role": m.role, "weight": m.weight} for m in self.spec.members]
        return RunResult(
            response=result.text,
            prompt_tokens=result.prompt_tokens,
            generated_tokens=result.generated_tokens,
            latency_ms=result.latency_ms,
            ttft_ms=result.ttft_ms,
            tokens_per_second=result.tokens_per_second,
            adapters_used=used,
        )

    def _run_sequential(self, prompt: str, params: GenerationParams) -> RunResult:
        stages: list[dict] = []
        previous: str | None = None
        first = None
        total_generated = 0
        latency = 0.0
        for index, member in enumerate(self.spec.members):
            # Switching the active adapter is a dict lookup on the already-loaded model: nothing reloads.
            self.model.set_adapter(member_name(index))
            stage_prompt = render_stage_prompt(member.prompt_template, prompt, previous, index)
            result = generate_timed(self.model, self.tokenizer, stage_prompt, params)
            stages.append(
                {
                    "stage": index + 1,
                    "adapter": member.label,
                    "role": member.role,
                    "active_adapter": self.model.active_adapter,
                    "prompt": stage_prompt,
                    "output": result.text,
                    "prompt_tokens": result.prompt_tokens,
                    "generated_tokens": result.generated_tokens,
                    "latency_ms": result.latency_ms,
                    "ttft_ms": result.ttft_ms,
                }
            )
            first = first or result
            previous = result.text
            total_generated += result.generated_tokens
            latency += result.latency_ms
        return RunResult(
            response=previous or "",
            prompt_tokens=first.prompt_tokens if first else 0,
            generated_tokens=total_generated,
            latency_ms=latency,
            ttft_ms=first.ttft_ms if first else None,
            tokens_per_second=total_generated / (latency / 1000.0)
            if latency > 0 and total_generated
            else None,
            adapters_used=[
                {"adapter": m.label, "role": m.role, "weight": m.weight, "stage": i + 1}
                for i, m in enumerate(self.spec.members)
            ],
            stages=stages,
        )

    @torch.no_grad()
    def logits(self, prompt: str) -> torch.Tensor:
        """Next-token logits over the formatted prompt (tests compare compositions with these)."""
        inputs = encode_prompt(self.tokenizer, prompt, self.device)
        return self.model(**inputs).logits.float().cpu()


def build(spec: CompositionSpec, device: str | None = None) -> ComposedModel:
    """Load the base once and compose the members the way the method says."""
    started = time.perf_counter()
    base, tokenizer = load_base(spec.base_path, device)
    fidelity = None
    if spec.method == ADDITIVE:
        model, fidelity = _build_additive(base, spec)
    elif spec.method == GATED:
        model = gate.build_gated(base, spec.members, spec.gate_config)
        if spec.gate_path is not None:
            gate.load_gate(model, spec.gate_path)
    elif spec.method == SEQUENTIAL:
        model = load_members(base, spec.members)
        for index, member in enumerate(spec.members):
            set_member_scale(model, member_name(index), member.weight)
    else:
        raise ValueError(f"unknown composition method {spec.method!r}")
    model.eval()
    return ComposedModel(
        spec, model, tokenizer, load_ms=(time.perf_counter() - started) * 1000.0, fidelity=fidelity
    )


def merged_adapter_spec(base_path, member: MemberSpec) -> CompositionSpec:
    """One adapter folded into its base: the base's own architecture and speed (serving an adapter, and the
    merged-model export, which saves exactly what a deployment serves)."""
    return CompositionSpec(base_path=base_path, method=ADDITIVE, members=(member,), merged=True)


def _build_additive(base, spec: CompositionSpec):
    peft_model = load_members(base, spec.members)
    ranks = [peft_model.peft_config[member_name(i)].r for i in range(len(spec.members))]
    compose.check_combination(spec.combination, ranks)
    weights = [m.weight for m in spec.members]
    compose.compose_additive(
        peft_model, weights, combination=spec.combination, density=spec.density, svd_rank=spec.svd_rank
    )
    fidelity = compose.fidelity_report(peft_model, weights, spec.combination)
    compose.drop_members(peft_model, len(spec.members))
    if spec.merged:
        # Fold W + ΔW into the base weights: plain model, zero added latency.
        return as_plain_base(peft_model.merge_and_unload()), fidelity
    return peft_model, fidelity


def as_plain_base(model: torch.nn.Module) -> torch.nn.Module:
    """A merged model must run exactly like the base: no LoRA layer left, contiguous frozen weights, and the
    deleted member/composed adapters' memory returned before it serves (merge_and_unload frees none of it)."""
    import gc

    from federation.engine.loading import lora_layers

    leftovers = [name for name, _layer in lora_layers(model)]
    if leftovers:
        raise RuntimeError(f"merge left LoRA layers behind: {leftovers[:3]}")
    for param in model.parameters():
        if not param.is_contiguous():
            param.data = param.data.contiguous()
        param.requires_grad_(False)
    gc.collect()
    return model
