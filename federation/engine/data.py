"""Reading training / evaluation examples from JSONL in any of the console's dataset formats."""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class Example:
    messages: list[dict] = field(default_factory=list)
    text: str = ""

    @property
    def prompt(self) -> str:
        """The last user turn before the final assistant answer."""
        turns = (
            self.messages[:-1]
            if self.messages and self.messages[-1]["role"] == "assistant"
            else self.messages
        )
        users = [m["content"] for m in turns if m["role"] == "user"]
        return users[-1] if users else ""

    @property
    def reference(self) -> str | None:
        if self.messages and self.messages[-1]["role"] == "assistant":
            return self.messages[-1]["content"]
        return None


def _as_messages(value, role: str) -> list[dict]:
    if isinstance(value, list):
        return [
            {"role": str(m.get("role", role)), "content": str(m.get("content", ""))}
            for m in value
            if isinstance(m, dict)
        ]
    return [{"role": role, "content": str(value)}]


def parse_example(row: dict) -> Example | None:
    """messages / prompt+completion / preference (chosen) / text rows; anything else is skipped."""
    if isinstance(row.get("messages"), list):
        return Example(messages=_as_messages(row["messages"], "user"))
    answer = row.get("completion", row.get("chosen"))
    if "prompt" in row and answer is not None:
        return Example(messages=_as_messages(row["prompt"], "user") + _as_messages(answer, "assistant"))
    if isinstance(row.get("chosen"), list):
        return Example(messages=_as_messages(row["chosen"], "user"))
    if isinstance(row.get("text"), str):
        return Example(text=row["text"])
    return None


def read_examples(path: Path, limit: int | None = None) -> list[Example]:
    examples: list[Example] = []
    with Path(path).open(encoding="utf-8") as handle:
        for line in handle:
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError:
                continue
            example = parse_example(row) if isinstance(row, dict) else None
            if example is not None:
                examples.append(example)
            if limit and len(examples) >= limit:
                break
    return examples


def validation_split(examples: list[Example], fraction: float = 0.1, seed: int = 42) -> list[Example]:
    """A deterministic held-out slice (at least one example) of a dataset's rows."""
    if not examples:
        return []
    order = list(range(len(examples)))
    random.Random(seed).shuffle(order)
    count = max(1, round(len(examples) * fraction))
    return [examples[i] for i in sorted(order[:count])]


def mix_examples(sources: list[list[Example]], per_source: int, seed: int = 0) -> list[Example]:
    """An equal share of each member's data, shuffled: the gate sees every adapter's domain."""
    rng = random.Random(seed)
    mixed: list[Example] = []
    for examples in sources:
        picked = list(examples)
        rng.shuffle(picked)
        mixed.extend(picked[:per_source])
    rng.shuffle(mixed)
    return mixed


def example_text(tokenizer, example: Example) -> str:
    if example.messages:
        if getattr(tokenizer, "chat_template", None):
            return tokenizer.apply_chat_template(example.messages, tokenize=False)
        return "\n".join(m["content"] for m in example.messages)
    return example.text
