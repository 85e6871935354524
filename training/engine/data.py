"""Training data: read JSONL, check every row fits the training type, split off a validation set."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

SFT_FORMATS = ("messages", "prompt_completion")
DPO_FORMATS = ("preference", "implicit_preference")
ROLES = {"system", "user", "assistant", "tool"}


class DatasetRowError(ValueError):
    """Rows of the dataset that the chosen training type cannot use."""

    def __init__(self, message: str, bad_rows: list[str] | None = None):
        self.bad_rows = bad_rows or []
        super().__init__(message)


@dataclass
class LoadedData:
    format: str
    train_rows: list[dict[str, Any]]
    eval_rows: list[dict[str, Any]]
    dropped_too_long: int = 0


# A token is rarely more than a few bytes of JSON; a line this many bytes per allowed token is certainly longer than
# max_seq_length and is skipped before it is parsed or tokenised (one 50 MB line once took a job to 14 GB RSS).
BYTES_PER_TOKEN_CAP = 32
MIN_LINE_CAP = 64 * 1024


def line_byte_cap(max_seq_length: int | None) -> int | None:
    """The per-line byte limit that goes with a max_seq_length (None: no limit)."""
    if not max_seq_length:
        return None
    return max(MIN_LINE_CAP, max_seq_length * BYTES_PER_TOKEN_CAP)


def _lines(handle, cap: int | None):
    """(number, line or None when longer than cap) without ever holding more than cap+1 bytes of one line."""
    number = 0
    while True:
        line = handle.readline(cap + 1) if cap else handle.readline()
        if not line:
            return
        number += 1
        if cap and len(line) > cap and not line.endswith(b"\n"):
            while True:  # skip the rest of the over-long line in bounded reads
                rest = handle.readline(1 << 20)
                if not rest or rest.endswith(b"\n"):
                    break
            yield number, None
            continue
        yield number, line


def _is_messages(value: Any) -> bool:
    return (
        isinstance(value, list)
        and len(value) > 0
        and all(
            isinstance(m, dict) and m.get("role") in ROLES and isinstance(m.get("content"), str)
            for m in value
        )
    )


def _text_or_messages(value: Any) -> bool:
    return (isinstance(value, str) and value != "") or _is_messages(value)


def detect_format(row: dict[str, Any]) -> str | None:
    keys = set(row)
    if "chosen" in keys and "rejected" in keys:
        return "preference" if "prompt" in keys else "implicit_preference"
    if "messages" in keys:
        return "messages"
    if "prompt" in keys and "completion" in keys:
        return "prompt_completion"
    return None


def _row_problem(row: dict[str, Any], fmt: str) -> str | None:
    if fmt == "messages":
        messages = row.get("messages")
        if not _is_messages(messages):
            return "'messages' must be a non-empty list of {role, content} with string content"
        if not any(m["role"] == "assistant" for m in messages):
            return "no assistant message to learn from"
        return None
    if fmt == "prompt_completion":
        if not isinstance(row.get("prompt"), str) or not isinstance(row.get("completion"), str):
            return "'prompt' and 'completion' must be strings"
        if not row["completion"]:
            return "'completion' is empty"
        return None
    for key in ("chosen", "rejected") + (("prompt",) if fmt == "preference" else ()):
        if not _text_or_messages(row.get(key)):
            return f"'{key}' must be a non-empty string or message list"
    if row.get("chosen") == row.get("rejected"):
        return "'chosen' and 'rejected' are identical"
    return None


def read_rows(
    path: Path,
    training_type: str,
    *,
    max_errors: int = 5,
    limit: int | None = None,
    max_line_bytes: int | None = None,
    dropped: list[int] | None = None,
) -> tuple[str, list[dict[str, Any]]]:
    """All rows of a JSONL file, checked against the training type; raises DatasetRowError naming the bad rows.

    Lines longer than max_line_bytes are skipped unread (their numbers go to `dropped`).
    """
    allowed = DPO_FORMATS if training_type == "dpo" else SFT_FORMATS
    rows: list[dict[str, Any]] = []
    problems: list[str] = []
    dropped = dropped if dropped is not None else []
    fmt: str | None = None
    try:
        handle = path.open("rb")
    except OSError as exc:
        raise DatasetRowError(f"cannot read the dataset {path.name}: {exc.strerror}") from exc
    with handle:
        for number, line in _lines(handle, max_line_bytes):
            if limit is not None and number > limit:
                break
            if line is None:
                dropped.append(number)
                continue
            if not line.strip():
                continue
            try:
                row = orjson.loads(line)
            except orjson.JSONDecodeError:
                problems.append(f"line {number}: not valid JSON")
                continue
            if not isinstance(row, dict):
                problems.append(f"line {number}: not a JSON object")
                continue
            row_fmt = detect_format(row)
            if row_fmt not in allowed:
                want = " or ".join(allowed).replace("prompt_completion", "prompt/completion")
                what = row_fmt or "keys " + ", ".join(sorted(row)[:5])
                problems.append(f"line {number}: {what} does not fit {training_type.upper()} (needs {want})")
            elif fmt is not None and row_fmt != fmt:
                problems.append(f"line {number}: format {row_fmt} differs from the first row's {fmt}")
            else:
                fmt = fmt or row_fmt
                issue = _row_problem(row, row_fmt)
                if issue:
                    problems.append(f"line {number}: {issue}")
                else:
                    rows.append(_project(row, row_fmt))
            if len(problems) >= max_errors:
                break
    if problems:
        raise DatasetRowError(
            f"{len(problems)}{'+' if len(problems) >= max_errors else ''} dataset rows do not fit "
            f"{training_type.upper()}: " + "; ".join(problems[:3]),
            problems,
        )
    if not rows or fmt is None:
        if dropped:
            raise DatasetRowError(
                f"the dataset has no usable rows: {len(dropped)} line(s) are longer than {max_line_bytes:,} bytes, "
                "far over max_seq_length, and are skipped"
            )
        raise DatasetRowError("the dataset has no usable rows")
    return fmt, rows


def _project(row: dict[str, Any], fmt: str) -> dict[str, Any]:
    # Only the columns trl uses: extra keys (ids, metadata) would confuse its format detection.
    keys = {
        "messages": ("messages",),
        "prompt_completion": ("prompt", "completion"),
        "preference": ("prompt", "chosen", "rejected"),
        "implicit_preference": ("chosen", "rejected"),
    }[fmt]
    return {k: row[k] for k in keys}


def load_training_data(
    path: Path, training_type: str, validation_split: float, seed: int, max_seq_length: int | None = None
) -> LoadedData:
    """Read, check and split; the split is seeded so a resumed job sees the same train/eval rows.

    Lines far longer than max_seq_length are dropped unread; the trainer truncates the rest to max_seq_length.
    """
    import random

    dropped: list[int] = []
    fmt, rows = read_rows(path, training_type, max_line_bytes=line_byte_cap(max_seq_length), dropped=dropped)
    n_eval = 0
    if validation_split > 0 and len(rows) >= 2:
        n_eval = min(len(rows) - 1, max(1, round(len(rows) * validation_split)))
    order = list(range(len(rows)))
    random.Random(seed).shuffle(order)
    eval_idx = set(order[:n_eval])
    return LoadedData(
        format=fmt,
        train_rows=[r for i, r in enumerate(rows) if i not in eval_idx],
        eval_rows=[r for i, r in enumerate(rows) if i in eval_idx],
        dropped_too_long=len(dropped),
    )


def _prompt_part(row: dict[str, Any], fmt: str) -> Any:
    """What comes before the tokens a row teaches: the messages up to the last assistant turn, or the prompt."""
    if fmt == "messages":
        messages = row["messages"]
        last = max(i for i, m in enumerate(messages) if m["role"] == "assistant")
        return messages[:last]
    return row.get("prompt", "")


def prompt_token_lengths(rows: list[dict[str, Any]], fmt: str, tokenizer: Any) -> list[int]:
    """Tokens of each row's prompt part (chat template applied to messages), as the trainer would see them."""
    lengths = []
    templated = bool(getattr(tokenizer, "chat_template", None))
    for row in rows:
        part = _prompt_part(row, fmt)
        if fmt == "prompt_completion" and templated and isinstance(part, str):
            part = [{"role": "user", "content": part}]  # trained as a chat turn (runner: as_chat_turns)
        if isinstance(part, list):
            if not part:
                lengths.append(0)
                continue
            if getattr(tokenizer, "chat_template", None):
                ids = tokenizer.apply_chat_template(part, tokenize=True, add_generation_prompt=True)
                ids = ids["input_ids"] if isinstance(ids, dict) or hasattr(ids, "keys") else ids
                lengths.append(len(ids))
                continue
            part = "\n".join(m["content"] for m in part)
        lengths.append(len(tokenizer(part, add_special_tokens=True)["input_ids"]))
    return lengths
