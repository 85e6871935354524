"""Build the tiny Llama / Mistral base models used by tests and the demo, entirely offline.

A randomly initialised model cannot be LoRA-tuned (the loss stays flat), so each model gets a short
full pre-train on local ChatML text first; LoRA then learns on top (STACK-NOTES).
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

BUILDER_VERSION = 1
IM_START, IM_END, PAD = "<|im_start|>", "<|im_end|>", "<|endoftext|>"

# ChatML with {% generation %} markers: trl's assistant_only_loss needs them to find assistant tokens.
CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{% if message['role'] == 'assistant' %}"
    "{{ '<|im_start|>assistant\\n' }}{% generation %}{{ message['content'] + '<|im_end|>' }}{% endgeneration %}{{ '\\n' }}"
    "{% else %}"
    "{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>\\n' }}"
    "{% endif %}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)

TINY_MODELS = {
    "tiny-llama": "llama",
    "tiny-mistral": "mistral",
}


@dataclass
class TinyModelInfo:
    name: str
    family: str
    path: Path
    parameter_count: int
    final_loss: float
    seconds: float
    built: bool


def build_tokenizer(vocab_size: int = 2048):
    from tokenizers import ByteLevelBPETokenizer
    from transformers import PreTrainedTokenizerFast

    from training.engine.tiny_corpus import conversations, plain_text

    texts = [m["content"] for conv in conversations(3000) for m in conv] + list(plain_text(2000))
    bpe = ByteLevelBPETokenizer()
    bpe.train_from_iterator(
        texts, vocab_size=vocab_size, min_frequency=2, special_tokens=[PAD, IM_START, IM_END]
    )
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=bpe, eos_token=IM_END, pad_token=PAD, unk_token=None)
    tokenizer.add_special_tokens({"additional_special_tokens": [IM_START]})
    tokenizer.chat_template = CHAT_TEMPLATE
    tokenizer.model_max_length = 512
    return tokenizer


def model_config(family: str, tokenizer, **sizes: int):
    """A random-init config of `family` (llama | mistral) for `tokenizer`: the tiny sizes unless `sizes` says otherwise."""
    from transformers import LlamaConfig, MistralConfig

    common = dict(
        vocab_size=len(tokenizer),
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=512,
        tie_word_embeddings=True,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=None,
    )
    common.update(sizes)
    if family == "llama":
        return LlamaConfig(**common)
    return MistralConfig(sliding_window=None, **common)


def _pretrain(model, tokenizer, steps: int, batch_size: int, seq_len: int, seed: int) -> float:
    import torch

    from training.engine.tiny_corpus import conversations

    torch.manual_seed(seed)
    ids: list[int] = []
    for conv in conversations(6000, seed=seed):
        ids.extend(tokenizer.apply_chat_template(conv, tokenize=True, return_dict=False))
    data = torch.tensor(ids[: (len(ids) // seq_len) * seq_len]).view(-1, seq_len)
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=0.0)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=3e-3, total_steps=steps, pct_start=0.1)
    generator = torch.Generator().manual_seed(seed)
    model.train()
    loss_value = float("nan")
    for _ in range(steps):
        batch = data[torch.randint(0, data.shape[0], (batch_size,), generator=generator)]
        loss = model(input_ids=batch, labels=batch).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        schedule.step()
        optimizer.zero_grad(set_to_none=True)
        loss_value = float(loss.detach())
    model.eval()
    return loss_value


def build_tiny_model(
    name: str,
    out_dir: Path,
    *,
    steps: int = 300,
    batch_size: int = 32,
    seq_len: int = 96,
    seed: int = 0,
    force: bool = False,
) -> TinyModelInfo:
    """Build one tiny model into out_dir (atomically); skip when an identical build is already there."""
    import torch

    family = TINY_MODELS[name]
    out_dir = Path(out_dir)
    marker = out_dir / "rmn_tiny.json"
    recipe = {
        "builder_version": BUILDER_VERSION,
        "name": name,
        "steps": steps,
        "batch_size": batch_size,
        "seed": seed,
    }
    if marker.exists() and not force:
        meta = json.loads(marker.read_text())
        if meta.get("recipe") == recipe:
            return TinyModelInfo(
                name, family, out_dir, meta["parameter_count"], meta["final_loss"], 0.0, built=False
            )

    from transformers import AutoModelForCausalLM, GenerationConfig

    started = time.monotonic()
    torch.manual_seed(seed)
    tokenizer = build_tokenizer()
    model = AutoModelForCausalLM.from_config(model_config(family, tokenizer))
    final_loss = _pretrain(model, tokenizer, steps, batch_size, seq_len, seed)
    model.generation_config = GenerationConfig(
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        do_sample=False,
        max_new_tokens=64,
    )
    params = sum(p.numel() for p in model.parameters())

    out_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{name}-", dir=out_dir.parent))
    try:
        model.save_pretrained(staging, safe_serialization=True)
        tokenizer.save_pretrained(staging)
        meta = {"recipe": recipe, "parameter_count": params, "final_loss": final_loss, "family": family}
        (staging / "rmn_tiny.json").write_text(json.dumps(meta, indent=2))
        if out_dir.exists():
            shutil.rmtree(out_dir)
        os.replace(staging, out_dir)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return TinyModelInfo(name, family, out_dir, params, final_loss, time.monotonic() - started, built=True)
