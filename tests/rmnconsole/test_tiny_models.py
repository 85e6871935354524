"""The tiny base models: offline build, chat template with generation markers, the real loading path."""

import json

import pytest

from training.engine.model_files import (
    BaseModelUnavailable,
    check_availability,
    load_causal_lm,
    load_tokenizer,
)


def test_tiny_models_load_through_the_real_loader(tiny_models):
    for name, path in tiny_models.items():
        meta = json.loads((path / "rmn_tiny.json").read_text())
        assert meta["final_loss"] < 2.0, f"{name} pre-train did not converge: {meta['final_loss']}"
        assert (path / "model.safetensors").exists()
        assert not list(path.glob("*.bin"))
        tokenizer = load_tokenizer(path)
        model = load_causal_lm(path)
        assert model.config.model_type == ("llama" if "llama" in name else "mistral")
        rendered = tokenizer.apply_chat_template(
            [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}],
            tokenize=True,
            return_dict=True,
            return_assistant_tokens_mask=True,
        )
        # The {% generation %} markers make exactly the assistant's tokens maskable (trl's assistant_only_loss).
        assert 0 < sum(rendered["assistant_masks"]) < len(rendered["input_ids"])


def test_pretrained_tiny_model_predicts_its_domain(tiny_models):
    import torch

    path = tiny_models["tiny-llama"]
    tokenizer, model = load_tokenizer(path), load_causal_lm(path)
    text = "<|im_start|>user\nPlan a grocery budget for amazon across sponsored_product.<|im_end|>\n<|im_start|>assistant\n"
    batch = tokenizer(text, return_tensors="pt")
    with torch.no_grad():
        loss = model(**batch, labels=batch["input_ids"]).loss.item()
    assert loss < 4.0  # a random 2k-vocab model sits near ln(2048) ≈ 7.6


def test_loader_refuses_folders_without_safetensors(tmp_path):
    (tmp_path / "config.json").write_text("{}")
    (tmp_path / "pytorch_model.bin").write_bytes(b"pickle")
    with pytest.raises(BaseModelUnavailable, match="only safetensors"):
        load_causal_lm(tmp_path)


def test_availability_says_why(tmp_path):
    missing = check_availability("meta-llama/Llama-3.1-8B-Instruct", tmp_path)
    assert not missing.available and "Hugging Face cache" in missing.note
    assert not check_availability("models/nope", tmp_path).available


@pytest.mark.django_db
def test_build_tiny_models_command_registers_both(settings, tiny_models, data_root):
    import shutil

    from django.core.management import call_command

    from training.models import FoundationModel

    # Reuse the cached builds so the command takes the idempotent path.
    for name, path in tiny_models.items():
        shutil.copytree(path, data_root / "models" / name)
    call_command("build_tiny_models")
    names = set(FoundationModel.objects.values_list("name", flat=True))
    assert {
        "tiny-llama",
        "tiny-mistral",
        "meta-llama/Llama-3.1-8B-Instruct",
        "mistralai/Mistral-7B-Instruct-v0.3",
    } <= names
    assert FoundationModel.objects.get(name="tiny-llama").is_available
    llama8b = FoundationModel.objects.get(name="meta-llama/Llama-3.1-8B-Instruct")
    assert not llama8b.is_available and "not in the Hugging Face cache" in llama8b.availability_note
