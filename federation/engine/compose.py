"""Additive composition: the exact weighted sum (peft `cat`), approximate combinations and their fidelity error."""

from __future__ import annotations

import torch
from peft import PeftModel

from federation.engine.loading import lora_layers, member_name
from federation.engine.types import NEEDS_DENSITY, SAME_RANK_COMBINATIONS, FidelityReport, LayerError

COMPOSED = "composed"


def check_combination(combination: str, ranks: list[int]) -> None:
    """Refuse what peft would refuse, with the reason in the product's words."""
    if combination in SAME_RANK_COMBINATIONS and len(set(ranks)) > 1:
        raise ValueError(
            f"combination '{combination}' needs every adapter to have the same rank (got ranks {sorted(set(ranks))}); "
            "use 'cat' (exact) or an svd combination"
        )


def compose_additive(
    peft_model: PeftModel,
    weights: list[float],
    *,
    combination: str = "cat",
    density: float = 0.5,
    svd_rank: int | None = None,
) -> str:
    """Add the 'composed' adapter = Σ wᵢ·ΔWᵢ (exact for cat) and make it the only active one."""
    names = [member_name(i) for i in range(len(weights))]
    if len(names) == 1:
        # peft forces 'linear' for one adapter (sqrt of the weight: fails for negatives); scaling B is exact.
        _copy_scaled_single(peft_model, names[0], weights[0])
    else:
        kwargs: dict = {}
        if combination in NEEDS_DENSITY:
            kwargs["density"] = density
        if combination.endswith("svd") and svd_rank:
            kwargs["svd_rank"] = svd_rank
        # dare drops entries at random: a fixed seed makes the same federation compose the same way every load.
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(0)
            peft_model.add_weighted_adapter(names, weights, COMPOSED, combination_type=combination, **kwargs)
    # The composed adapter has alpha = r, but peft copies use_rslora from the first member: force scaling 1.
    peft_model.peft_config[COMPOSED].use_rslora = False
    for _name, layer in lora_layers(peft_model):
        if COMPOSED in layer.scaling:
            layer.use_rslora[COMPOSED] = False
            layer.scaling[COMPOSED] = 1.0
    peft_model.set_adapter(COMPOSED)
    return COMPOSED


def _copy_scaled_single(peft_model: PeftModel, source: str, weight: float) -> None:
    config = peft_model.peft_config[source]
    peft_model.add_adapter(COMPOSED, _single_config(config))
    for _name, layer in lora_layers(peft_model):
        if source not in layer.lora_A:
            continue
        scale = weight * layer.scaling[source]
        rank = layer.r[source]
        # A rank_pattern gives layers a smaller rank than the composed one: fill the top rows, zero the rest.
        layer.lora_A[COMPOSED].weight.data.zero_()
        layer.lora_B[COMPOSED].weight.data.zero_()
        layer.lora_A[COMPOSED].weight.data[:rank] = layer.lora_A[source].weight.data * scale
        layer.lora_B[COMPOSED].weight.data[:, :rank] = layer.lora_B[source].weight.data


def _single_config(config):
    from dataclasses import replace

    rank = max([config.r, *config.rank_pattern.values()]) if config.rank_pattern else config.r
    return replace(config, r=rank, lora_alpha=rank, use_rslora=False, alpha_pattern={}, rank_pattern={})


def drop_members(peft_model: PeftModel, count: int) -> None:
    """Free the member adapters once the composed one exists."""
    for index in range(count):
        name = member_name(index)
        if name in peft_model.peft_config:
            peft_model.delete_adapter(name)


@torch.no_grad()
def fidelity_report(peft_model: PeftModel, weights: list[float], combination: str) -> FidelityReport:
    """Per adapted layer: ‖ΔW_composed − Σ wᵢΔWᵢ‖_F / ‖Σ wᵢΔWᵢ‖_F (computed in float32)."""
    names = [member_name(i) for i in range(len(weights))]
    layers: list[LayerError] = []
    for module_name, layer in lora_layers(peft_model):
        if COMPOSED not in layer.lora_A:
            continue
        target = None
        for name, weight in zip(names, weights, strict=True):
            if name in layer.lora_A:
                delta = layer.get_delta_weight(name).float() * weight
                target = delta if target is None else target + delta
        if target is None:
            continue
        got = layer.get_delta_weight(COMPOSED).float()
        denominator = torch.linalg.norm(target)
        error = torch.linalg.norm(got - target) / denominator if denominator > 0 else torch.linalg.norm(got)
        layers.append(
            LayerError(module=module_name.removeprefix("base_model.model."), relative_error=float(error))
        )
    return FidelityReport(combination=combination, layers=layers)
