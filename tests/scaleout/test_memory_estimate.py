"""The GPU memory estimate: known 8B numbers, and every knob moves it the way it should."""

import pytest

from training.engine.memory import GIB, ModelShape, estimate_training_memory, fits

LLAMA_8B = ModelShape.from_config(
    {
        "hidden_size": 4096,
        "intermediate_size": 14336,
        "num_hidden_layers": 32,
        "num_attention_heads": 32,
        "num_key_value_heads": 8,
        "vocab_size": 128256,
    },
    parameter_count=8_030_261_248,
)


def test_qlora_8b_is_in_the_known_range():
    est = estimate_training_memory(
        LLAMA_8B,
        quantization="4bit",
        lora_r=16,
        target_modules=["q_proj", "k_proj", "v_proj", "o_proj"],
        batch_size=4,
        max_seq_length=1024,
        gradient_checkpointing=True,
    )
    assert est.lora_parameters == 32 * 16 * (2 * (4096 + 4096) + 2 * (4096 + 1024))  # 13.6M
    assert 3.5 < est.weights / GIB < 4.2  # ~4.1 bits per weight
    assert 8 < est.total_gib < 16  # QLoRA of an 8B model fits a 16–24 GB card at this batch size
    assert fits(est, 24 * GIB) and not fits(est, 8 * GIB)


def test_full_precision_bf16_needs_much_more():
    bf16 = estimate_training_memory(LLAMA_8B, quantization="none", batch_size=4, max_seq_length=1024)
    q4 = estimate_training_memory(LLAMA_8B, quantization="4bit", batch_size=4, max_seq_length=1024)
    assert bf16.weights == pytest.approx(2 * LLAMA_8B.parameter_count)
    assert bf16.total > q4.total + 10 * GIB


def test_knobs_are_monotonic():
    base = dict(quantization="4bit", batch_size=2, max_seq_length=512)
    e = estimate_training_memory(LLAMA_8B, **base).total
    assert estimate_training_memory(LLAMA_8B, **{**base, "batch_size": 8}).total > e
    assert estimate_training_memory(LLAMA_8B, **{**base, "max_seq_length": 2048}).total > e
    assert estimate_training_memory(LLAMA_8B, **{**base, "lora_r": 64}).total > e
    assert estimate_training_memory(LLAMA_8B, **base, gradient_checkpointing=True).total < e
    assert estimate_training_memory(LLAMA_8B, **base, dpo=True).total > e


def test_shape_from_config_counts_parameters_when_unknown():
    tiny = ModelShape.from_config(
        {
            "hidden_size": 64,
            "intermediate_size": 128,
            "num_hidden_layers": 2,
            "num_attention_heads": 4,
            "num_key_value_heads": 2,
            "vocab_size": 2048,
        }
    )
    # q,o 64x64; k,v 64x32; gate/up/down 64x128 → per layer 8192+4096+24576 + norms; plus tied embeddings.
    assert tiny.parameter_count == 2 * (2 * 4096 + 2 * 2048 + 3 * 8192 + 128) + 2048 * 64
