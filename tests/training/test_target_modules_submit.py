"""target_modules is checked at submit against the base model's module names, read from the safetensors headers."""

from __future__ import annotations

import time

import pytest

from rmnconsole.core.errors import ServiceError
from training.engine.module_names import leaf_names, linear_module_paths, unknown_target_modules
from training.services import validate_request


def test_module_names_come_from_the_headers_alone(tiny_models):
    started = time.perf_counter()
    paths = linear_module_paths(tiny_models["tiny-llama"])
    assert time.perf_counter() - started < 1.0  # headers only: no weight is read
    assert {"q_proj", "k_proj", "v_proj", "o_proj"} <= set(leaf_names(paths))
    assert unknown_target_modules(["q_proj", "self_attn.v_proj", "all-linear"], paths) == []
    assert unknown_target_modules(["qq_proj", "v_proj"], paths) == ["qq_proj"]


@pytest.mark.django_db
def test_submit_refuses_a_module_the_base_does_not_have(tiny_base_models):
    base = tiny_base_models["tiny-llama"]
    with pytest.raises(ServiceError) as err:
        validate_request(
            adapter_type="retailer",
            adapter_name="typo_modules",
            training_type="sft",
            base_model=base,
            config={"target_modules": ["q_proj", "qq_proj"]},
        )
    assert err.value.field == "target_modules"
    assert "qq_proj" in err.value.message and "q_proj" in err.value.message
    assert "/" not in err.value.message  # no server path
    model, config = validate_request(
        adapter_type="retailer",
        adapter_name="fine_modules",
        training_type="sft",
        base_model=base,
        config={"target_modules": ["q_proj", "v_proj"]},
    )
    assert model == base and config["target_modules"] == ["q_proj", "v_proj"]
