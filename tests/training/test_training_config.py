"""The one hyperparameter config: defaults, range checks and readable errors."""

import pytest

from training.engine.config import ConfigError, build_config, defaults_for


def test_defaults_follow_the_training_type():
    assert build_config("sft", None).quantization == "none"
    qlora = build_config("qlora", {})
    assert qlora.quantization == "4bit"
    assert defaults_for("dpo")["learning_rate"] < defaults_for("sft")["learning_rate"]


def test_guide_values_are_accepted_and_coerced():
    cfg = build_config(
        "sft",
        {
            "lora_r": "16",
            "lora_alpha": 32,
            "batch_size": 4.0,
            "learning_rate": "0.0002",
            "target_modules": "q_proj, v_proj",
        },
    )
    assert (cfg.lora_r, cfg.batch_size, cfg.learning_rate) == (16, 4, 0.0002)
    assert cfg.target_modules == ["q_proj", "v_proj"]


@pytest.mark.parametrize(
    ("overrides", "field", "words"),
    [
        ({"lora_r": 0}, "lora_r", "at least 1"),
        ({"learning_rate": 5}, "learning_rate", "at most 1"),
        ({"batch_size": 2.5}, "batch_size", "whole number"),
        ({"batch_size": True}, "batch_size", "number"),
        ({"validation_split": 0.9}, "validation_split", "at most 0.5"),
        ({"lr_scheduler": "zigzag"}, "lr_scheduler", "one of"),
        ({"target_modules": ["q_proj", "bad name!"]}, "target_modules", "invalid module name"),
        ({"lora_rank": 8}, "lora_rank", "did you mean 'lora_r'"),
        ({"learning_rate": float("nan")}, "learning_rate", "finite"),
    ],
)
def test_bad_values_are_rejected_with_the_field_and_reason(overrides, field, words):
    with pytest.raises(ConfigError) as info:
        build_config("sft", overrides)
    assert words in info.value.errors[field]


def test_qlora_needs_a_4bit_base():
    with pytest.raises(ConfigError) as info:
        build_config("qlora", {"quantization": "none"})
    assert "4bit" in info.value.errors["quantization"]


def test_all_problems_are_reported_at_once():
    with pytest.raises(ConfigError) as info:
        build_config("dpo", {"lora_r": -1, "beta": 0, "epochs": "many"})
    assert set(info.value.errors) == {"lora_r", "beta", "epochs"}
