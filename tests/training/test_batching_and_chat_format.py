"""SFT batch layout (padding-free where the attention keeps packed examples apart) and chat-template handling
(generation markers for assistant-only loss, prompt/completion trained as chat turns) on the tiny models."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.training.conftest import messages_rows, prompt_completion_rows
from training.engine import batching
from training.engine.chat_format import as_chat_turns, has_generation_markers, with_generation_markers

# SmolLM2-135M-Instruct's template as its GGUF carries it: ChatML without {% generation %} markers.
SMOLLM2_TEMPLATE = (
    "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}{{ '<|im_start|>system\n"
    "You are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n' }}{% endif %}"
    "{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)


def _render(template: str, conversation, **kwargs):
    from transformers.utils.chat_template_utils import render_jinja_template

    texts, generation = render_jinja_template(
        conversations=[conversation], chat_template=template, return_assistant_tokens_mask=True, **kwargs
    )
    return texts[0], generation[0]


def test_chatml_template_gets_generation_markers_and_renders_the_same():
    conversation = [
        {"role": "user", "content": "Map this record"},
        {"role": "assistant", "content": '{"placement_type": "sponsored_product"}'},
    ]
    assert not has_generation_markers(SMOLLM2_TEMPLATE)
    patched = with_generation_markers(SMOLLM2_TEMPLATE)
    assert patched is not None and has_generation_markers(patched)
    text, spans = _render(patched, conversation)
    assert text == _render(SMOLLM2_TEMPLATE, conversation)[0]  # the model sees exactly the same text
    # The marked span is the assistant's answer and its end token, nothing of the system or user turns.
    assert [text[a:b] for a, b in spans] == ['{"placement_type": "sponsored_product"}<|im_end|>']
    assert with_generation_markers(patched) is None  # already marked: left alone
    assert with_generation_markers("{{ messages[0]['content'] }}") is None  # not ChatML: not touched


def _tiny_copy(tiny_models, tmp_path: Path, template: str | None = None) -> Path:
    folder = tmp_path / "tiny-llama"
    shutil.copytree(tiny_models["tiny-llama"], folder)
    if template is not None:
        config = folder / "tokenizer_config.json"
        data = json.loads(config.read_text())
        data.pop("chat_template", None)
        config.write_text(json.dumps(data))
        (folder / "chat_template.jinja").write_text(template)
    return folder


def _train(folder: Path, tmp_path: Path, rows: list[dict], name: str, **config):
    from training.engine.config import build_config
    from training.engine.runner import TrainingRun, run_training

    data = tmp_path / f"{name}.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    settings = {
        "max_steps": 3,
        "batch_size": 4,
        "max_seq_length": 64,
        "validation_split": 0.0,
        "logging_steps": 1,
        "checkpoint_steps": 1000,
        "learning_rate": 1e-3,
        **config,
    }
    run = TrainingRun(
        training_type="sft",
        model_folder=folder,
        dataset_file=data,
        output_dir=tmp_path / name / "checkpoints",
        adapter_staging_dir=tmp_path / name / "adapter",
        config=build_config("sft", settings),
    )
    reports = []
    result = run_training(run, reports.append, report_interval=0.0)
    losses = [p.loss for r in reports for p in r.metrics if p.loss is not None]
    log = [line for r in reports for line in getattr(r, "log_lines", [])]
    return result, losses, log


def test_padding_free_is_chosen_where_correct_and_trains_like_padded_batches(tiny_models, tmp_path):
    rows = prompt_completion_rows(24)
    free, free_losses, free_log = _train(tiny_models["tiny-llama"], tmp_path, rows, "free")
    padded, padded_losses, _ = _train(tiny_models["tiny-llama"], tmp_path, rows, "padded", batching="padded")
    assert free.outcome == padded.outcome == "completed"
    assert free.final_metrics["batching"] == "padding_free", free_log
    assert padded.final_metrics["batching"] == "padded"
    # Same examples in the same order, packed apart by position ids: the same loss, not a blend across examples.
    assert free_losses == pytest.approx(padded_losses, rel=1e-3), (free_losses, padded_losses)
    assert any("padding-free" in line for line in free_log), free_log


def test_an_attention_that_lets_packed_examples_mix_falls_back_to_length_grouping(tiny_models):
    """A model run with a KV cache ignores packing boundaries (transformers only splits packed rows without one)."""
    import torch
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(tiny_models["tiny-llama"], dtype=torch.float32)
    assert batching.packed_examples_stay_apart(model)

    class CachedForward(torch.nn.Module):
        def __init__(self, inner):
            super().__init__()
            self.inner, self.config = inner, inner.config

        def forward(self, **kwargs):
            return self.inner(**{**kwargs, "use_cache": True})

    leaky = CachedForward(model)
    assert not batching.packed_examples_stay_apart(leaky)
    layout, line = batching.choose_batching("auto", leaky)
    assert layout == "length_grouped" and "not used" in line
    assert batching.choose_batching("padded", model)[0] == "padded"


def test_messages_with_assistant_only_loss_train_on_a_template_without_markers(tiny_models, tmp_path):
    folder = _tiny_copy(tiny_models, tmp_path, SMOLLM2_TEMPLATE)
    result, losses, log = _train(
        folder, tmp_path, messages_rows(16), "messages", assistant_only_loss=True, max_seq_length=256
    )
    assert result.outcome == "completed" and len(losses) == 3 and all(loss > 0 for loss in losses)
    assert any("generation" in line for line in log), log


def test_prompt_completion_rows_become_one_user_and_one_assistant_turn():
    turns = as_chat_turns([{"prompt": "p", "completion": "c"}])
    assert turns == [
        {"prompt": [{"role": "user", "content": "p"}], "completion": [{"role": "assistant", "content": "c"}]}
    ]


def test_all_linear_and_the_demo_preset_pass_the_config_checks():
    from training.engine.config import DEMO_ADAPTER_PRESET, ConfigError, build_config

    assert build_config("sft", {"target_modules": "all-linear"}).target_modules == ["all-linear"]
    preset = build_config("sft", DEMO_ADAPTER_PRESET)
    assert preset.batching == "auto" and preset.max_steps == 40 and preset.target_modules == ["all-linear"]
    with pytest.raises(ConfigError, match="batching"):
        build_config("sft", {"batching": "sideways"})
