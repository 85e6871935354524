"""Engine facts on real tiny models and adapters: what each composition computes, exactly."""

from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import load_file

from federation.engine import gate, runtime
from federation.engine.data import Example
from federation.engine.export import export_composed_adapter
from federation.engine.generate import encode_prompt
from federation.engine.types import ADDITIVE, GATED, SEQUENTIAL, CompositionSpec, GenerationParams, MemberSpec

GREEDY = GenerationParams(max_new_tokens=24)


def members(adapters, weights=(1.0, 1.0)):
    return (
        MemberSpec("amazon_schema v1", adapters.retailer, weights[0], "retailer"),
        MemberSpec("planning v1", adapters.task, weights[1], "task"),
    )


def manual_weighted_sum(base_path, specs):
    """W + Σ wᵢ·(alpha/r)·BᵢAᵢ written into a fresh base model by hand, from the safetensors files."""
    from training.engine.model_files import load_causal_lm

    model = load_causal_lm(base_path)
    state = model.state_dict()
    for spec in specs:
        config = json.loads((spec.path / "adapter_config.json").read_text())
        scale = config["lora_alpha"] / config["r"]
        tensors = load_file(str(spec.path / "adapter_model.safetensors"))
        for key, a in tensors.items():
            if ".lora_A." in key:
                b = tensors[key.replace(".lora_A.", ".lora_B.")]
                module = key.removeprefix("base_model.model.").replace(".lora_A.weight", "")
                state[module + ".weight"] += spec.weight * scale * (b @ a)
    model.load_state_dict(state)
    return model.eval()


@pytest.fixture(scope="module")
def additive(trained_adapters):
    return runtime.build(
        CompositionSpec(trained_adapters.base, ADDITIVE, members(trained_adapters, (0.7, -0.4))), "cpu"
    )


def test_additive_equals_manual_weighted_sum(trained_adapters, additive, texts):
    reference = manual_weighted_sum(trained_adapters.base, additive.spec.members)
    inputs = encode_prompt(additive.tokenizer, texts.task_prompt, "cpu")
    with torch.no_grad():
        expected = reference(**inputs).logits
    got = additive.logits(texts.task_prompt)
    assert torch.allclose(got, expected, atol=1e-4), (got - expected).abs().max()
    # …and it is not the base: the adapters really moved the logits.
    base_only = manual_weighted_sum(trained_adapters.base, ())
    with torch.no_grad():
        assert (base_only(**inputs).logits - expected).abs().max() > 1e-2


def test_exact_path_has_zero_fidelity_error(additive):
    assert additive.fidelity.layers, "every adapted layer is measured"
    assert additive.fidelity.max < 1e-5
    modules = {e.module for e in additive.fidelity.layers}
    assert any("o_proj" in m for m in modules) and any("q_proj" in m for m in modules)


def test_merged_equals_unmerged(trained_adapters, additive, texts):
    spec = CompositionSpec(
        trained_adapters.base, ADDITIVE, members(trained_adapters, (0.7, -0.4)), merged=True
    )
    merged = runtime.build(spec, "cpu")
    assert not hasattr(merged.model, "peft_config"), "merged is a plain transformers model"
    assert torch.allclose(merged.logits(texts.task_prompt), additive.logits(texts.task_prompt), atol=1e-4)


def test_linear_combination_is_approximate(trained_adapters):
    spec = CompositionSpec(trained_adapters.base, ADDITIVE, members(trained_adapters), combination="linear")
    linear = runtime.build(spec, "cpu")
    assert linear.fidelity.mean > 0.05
    assert linear.fidelity.max >= linear.fidelity.mean


def test_single_adapter_reproduces_its_training(trained_adapters, texts):
    retailer = runtime.build(
        CompositionSpec(trained_adapters.base, ADDITIVE, members(trained_adapters)[:1]), "cpu"
    )
    result = retailer.run(texts.retailer_prompt, GREEDY)
    assert result.response.startswith("RMIS record: retailer=amazon")
    assert result.generated_tokens > 0 and result.prompt_tokens > 0
    assert result.ttft_ms is not None and 0 < result.ttft_ms <= result.latency_ms
    assert result.adapters_used == [{"adapter": "amazon_schema v1", "role": "retailer", "weight": 1.0}]


def test_sequential_runs_each_adapter_alone_in_order(trained_adapters, texts):
    pipeline = runtime.build(
        CompositionSpec(trained_adapters.base, SEQUENTIAL, members(trained_adapters)), "cpu"
    )
    model_id = id(pipeline.model)
    result = pipeline.run(texts.retailer_prompt, GREEDY)
    assert [s["active_adapter"] for s in result.stages] == ["m0", "m1"]
    assert id(pipeline.model) == model_id
    first, second = result.stages
    assert first["output"].startswith("RMIS record")
    assert texts.retailer_prompt in second["prompt"] and first["output"] in second["prompt"]
    assert all(s["latency_ms"] > 0 for s in result.stages)
    assert result.response == second["output"]
    # Stage k equals adapter k alone on stage k's prompt: each stage really used its own adapter.
    for index, stage in enumerate(result.stages):
        alone = runtime.build(
            CompositionSpec(trained_adapters.base, ADDITIVE, (members(trained_adapters)[index],)), "cpu"
        ).run(stage["prompt"], GREEDY)
        assert alone.response == stage["output"]


def test_gate_trains_only_the_classifier_and_routes(trained_adapters, tmp_path, texts):
    spec = CompositionSpec(trained_adapters.base, GATED, members(trained_adapters))
    gated = runtime.build(spec, "cpu")
    frozen = {k: v.clone() for k, v in gated.model.named_parameters() if "internal_xlora_classifier" not in k}
    examples = [
        Example(
            messages=[
                {"role": "user", "content": texts.retailer_prompt},
                {"role": "assistant", "content": texts.retailer_answer},
            ]
        ),
        Example(
            messages=[
                {"role": "user", "content": texts.task_prompt},
                {"role": "assistant", "content": texts.task_answer},
            ]
        ),
    ]
    before = {k: v.clone() for k, v in gate.classifier(gated.model).state_dict().items()}
    summary = gate.train_gate(gated.model, gated.tokenizer, examples, steps=15, learning_rate=1e-2)
    assert summary["steps"] == 15
    after = gate.classifier(gated.model).state_dict()
    assert any(not torch.equal(before[k], after[k]) for k in before), "the classifier learned"
    assert all(torch.equal(v, dict(gated.model.named_parameters())[k]) for k, v in frozen.items()), (
        "experts stay frozen"
    )
    result = gated.run(texts.task_prompt, GenerationParams(max_new_tokens=6))
    shares = [a["share"] for a in result.adapters_used]
    assert len(shares) == 2 and abs(sum(shares) - 1.0) < 1e-4 and all(0 <= s <= 1 for s in shares)
    # peft's save drops the classifier: ours round-trips it.
    path = gate.save_gate(gated.model, tmp_path / "gate.safetensors")
    reloaded = runtime.build(
        CompositionSpec(trained_adapters.base, GATED, spec.members, gate_path=path), "cpu"
    )
    assert torch.allclose(reloaded.logits(texts.task_prompt), gated.logits(texts.task_prompt), atol=1e-5)


def test_export_loads_with_peft_and_gives_the_same_output(trained_adapters, additive, tmp_path, texts):
    from peft import PeftModel

    from training.engine.model_files import load_causal_lm

    folder = export_composed_adapter(additive.spec, tmp_path / "composed", name="f", base_name="tiny-llama")
    assert {"adapter_config.json", "adapter_model.safetensors", "README.md"} <= {
        p.name for p in folder.iterdir()
    }
    loaded = PeftModel.from_pretrained(load_causal_lm(trained_adapters.base), str(folder)).eval()
    inputs = encode_prompt(additive.tokenizer, texts.task_prompt, "cpu")
    with torch.no_grad():
        got = loaded(**inputs).logits
    assert torch.allclose(got, additive.logits(texts.task_prompt), atol=1e-4)


def test_export_never_reads_the_base_weights(trained_adapters, additive, tmp_path):
    """Composing reads LoRA tensors only: a base folder with config.json and no weights exports the same adapter."""
    import dataclasses
    import shutil
    from pathlib import Path

    config_only = tmp_path / "config-only"
    config_only.mkdir()
    shutil.copy(Path(trained_adapters.base) / "config.json", config_only / "config.json")
    full = export_composed_adapter(additive.spec, tmp_path / "full", name="f", base_name="tiny-llama")
    light = export_composed_adapter(
        dataclasses.replace(additive.spec, base_path=config_only),
        tmp_path / "light",
        name="f",
        base_name="tiny-llama",
    )
    expected, got = (
        load_file(full / "adapter_model.safetensors"),
        load_file(light / "adapter_model.safetensors"),
    )
    assert set(got) == set(expected) and all(torch.equal(got[k], expected[k]) for k in expected)
    assert (light / "adapter_config.json").read_text() == (full / "adapter_config.json").read_text()


def test_export_refuses_a_base_that_needs_remote_code(additive, tmp_path):
    import dataclasses

    from training.engine.model_files import BaseModelUnavailable

    remote = tmp_path / "remote"
    remote.mkdir()
    (remote / "config.json").write_text(
        json.dumps({"model_type": "llama", "auto_map": {"AutoModel": "x.Model"}})
    )
    with pytest.raises(BaseModelUnavailable, match="trust_remote_code is off"):
        export_composed_adapter(
            dataclasses.replace(additive.spec, base_path=remote), tmp_path / "o", name="f", base_name="b"
        )
