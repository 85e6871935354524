"""One batched generate() call for several chat/completion requests on the same model.

Rows are left-padded so every prompt ends at the same position; each row keeps its own token budget and stop
strings (a per-row stopping criterion), and a streaming row gets its text deltas as the tokens arrive.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from transformers import StoppingCriteria, StoppingCriteriaList
from transformers.generation.streamers import BaseStreamer


@dataclass
class BatchItem:
    """One request's already-rendered prompt text and its generation settings."""

    prompt: str
    max_tokens: int = 16
    temperature: float = 0.0
    top_p: float = 1.0
    seed: int | None = None
    stop: tuple[str, ...] = ()
    on_delta: Callable[[str], None] | None = None  # streaming: called with each new piece of text


@dataclass
class BatchOutput:
    text: str
    prompt_tokens: int
    completion_tokens: int
    finish_reason: str  # "stop" (EOS or a stop string) | "length" | "cancelled" (the caller hung up)
    extra: dict = field(default_factory=dict)


def sampling_key(item: BatchItem) -> tuple:
    """Requests batch together only when one generate() call can honour all their settings."""
    if item.temperature <= 0:
        return ("greedy",)
    return ("sample", round(item.temperature, 6), round(item.top_p, 6), item.seed)


def render_chat(tokenizer, messages: list[dict]) -> str:
    """Messages through the tokenizer's own chat template (plain "role: content" lines without one)."""
    if getattr(tokenizer, "chat_template", None):
        return tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
    return "".join(f"{m['role']}: {m['content']}\n" for m in messages) + "assistant: "


def count_tokens(tokenizer, text: str) -> int:
    return len(tokenizer(text, add_special_tokens=not getattr(tokenizer, "chat_template", None))["input_ids"])


def _cut_at_stop(text: str, stops: tuple[str, ...]) -> tuple[str, bool]:
    cut = min((text.find(s) for s in stops if s and s in text), default=-1)
    return (text[:cut], True) if cut >= 0 else (text, False)


class _Rows:
    """Per-row state shared by the stopping criterion and the streamer."""

    def __init__(self, tokenizer, items: list[BatchItem], eos_ids: set[int]) -> None:
        self.tokenizer = tokenizer
        self.items = items
        self.eos_ids = eos_ids
        self.tokens: list[list[int]] = [[] for _ in items]
        self.done = [False] * len(items)
        self.reason = ["length"] * len(items)
        self.sent = [0] * len(items)  # characters already streamed

    def add(self, step_tokens: list[int]) -> None:
        for row, token in enumerate(step_tokens):
            if self.done[row]:
                continue
            item = self.items[row]
            if token in self.eos_ids:
                self.done[row], self.reason[row] = True, "stop"
                continue
            self.tokens[row].append(token)
            if item.stop:
                _, stopped = _cut_at_stop(self.text(row), item.stop)
                if stopped:
                    self.done[row], self.reason[row] = True, "stop"
            if len(self.tokens[row]) >= item.max_tokens:
                self.done[row] = True
            self._stream(row)

    def text(self, row: int) -> str:
        return self.tokenizer.decode(self.tokens[row], skip_special_tokens=True)

    def final_text(self, row: int) -> str:
        return _cut_at_stop(self.text(row), self.items[row].stop)[0]

    def _stream(self, row: int, final: bool = False) -> None:
        item = self.items[row]
        if item.on_delta is None:
            return
        text = self.final_text(row)
        if not (final or self.done[row]):
            # Hold back what could still become a stop string, and a half-decoded multi-byte character.
            hold = max((len(s) - 1 for s in item.stop), default=0)
            text = text[: len(text) - hold] if hold else text
            text = text.rstrip("\ufffd")
        if len(text) > self.sent[row]:
            item.on_delta(text[self.sent[row] :])
            self.sent[row] = len(text)

    def flush(self) -> None:
        for row in range(len(self.items)):
            self._stream(row, final=True)


class _RowStops(StoppingCriteria):
    """Ends each row on its own: its budget, a stop string, EOS, or its caller gone (`cancelled()`: row indices)."""

    def __init__(self, rows: _Rows, cancelled: Callable[[], set[int]] | None = None) -> None:
        self.rows = rows
        self.cancelled = cancelled

    def __call__(self, input_ids, scores, **kwargs) -> torch.BoolTensor:
        if self.cancelled is not None and not all(self.rows.done):
            for row in self.cancelled():
                if not self.rows.done[row]:
                    self.rows.done[row], self.rows.reason[row] = True, "cancelled"
        return torch.tensor(self.rows.done, dtype=torch.bool, device=input_ids.device)


class _RowStreamer(BaseStreamer):
    """generate() puts the prompt first, then one token per row per step."""

    def __init__(self, rows: _Rows) -> None:
        self.rows = rows
        self.prompt_seen = False

    def put(self, value) -> None:
        if not self.prompt_seen:
            self.prompt_seen = True
            return
        self.rows.add([int(t) for t in value.reshape(-1).tolist()])

    def end(self) -> None:
        return None


@torch.no_grad()
def generate_batch(
    model, tokenizer, items: list[BatchItem], *, cancelled: Callable[[], set[int]] | None = None
) -> list[BatchOutput]:
    """Every item in ONE generate() call; items must share sampling_key (the caller groups them).

    `cancelled()` is asked after every step which rows' callers have gone; those rows stop there (and generation
    ends as soon as no row is left), so a hung-up client does not keep the worker busy."""
    if not items:
        return []
    if len({sampling_key(i) for i in items}) != 1:
        raise ValueError("a batch mixes sampling settings; group the requests by sampling_key first")
    device = next(model.parameters()).device
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    eos = tokenizer.eos_token_id
    eos_ids = set(eos if isinstance(eos, list) else [eos]) - {None}
    side = tokenizer.padding_side
    tokenizer.padding_side = "left"
    try:
        encoded = tokenizer(
            [i.prompt for i in items],
            return_tensors="pt",
            padding=True,
            add_special_tokens=not getattr(tokenizer, "chat_template", None),
        )
    finally:
        tokenizer.padding_side = side
    prompt_tokens = [int(n) for n in encoded["attention_mask"].sum(dim=1).tolist()]
    inputs = {k: v.to(device) for k, v in encoded.items()}
    rows = _Rows(tokenizer, items, eos_ids)
    first = items[0]
    kwargs: dict = {
        "max_new_tokens": max(i.max_tokens for i in items),
        "pad_token_id": pad_id,
        "eos_token_id": list(eos_ids) or None,
        "stopping_criteria": StoppingCriteriaList([_RowStops(rows, cancelled)]),
        "streamer": _RowStreamer(rows),
    }
    if first.temperature > 0:
        kwargs.update(do_sample=True, temperature=first.temperature, top_p=first.top_p, top_k=0)
    else:
        # Greedy: blank the sampling knobs a model's generation_config may carry.
        kwargs.update(do_sample=False, temperature=None, top_p=None, top_k=None)
    seed = first.seed if first.seed is not None else 0
    torch.manual_seed(seed)
    if torch.cuda.is_available():
        torch.cuda.manual_seed_all(seed)
    model.generate(**inputs, **kwargs)
    rows.flush()
    return [
        BatchOutput(
            text=rows.final_text(r),
            prompt_tokens=prompt_tokens[r],
            completion_tokens=len(rows.tokens[r]),
            finish_reason=rows.reason[r],
        )
        for r in range(len(items))
    ]
