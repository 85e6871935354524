"""Per-example structure checks for the dataset formats trl documents, and the text each example carries."""

from __future__ import annotations

from typing import Any

# Format codes (one byte per line is kept while streaming, so these are small ints).
UNKNOWN, MESSAGES, PROMPT_COMPLETION, PREFERENCE, IMPLICIT_PREFERENCE = 0, 1, 2, 3, 4
FORMAT_NAMES = {
    UNKNOWN: "",
    MESSAGES: "messages",
    PROMPT_COMPLETION: "prompt_completion",
    PREFERENCE: "preference",
    IMPLICIT_PREFERENCE: "implicit_preference",
}
FORMAT_CODES = {name: code for code, name in FORMAT_NAMES.items() if name}
SFT_FORMATS = (MESSAGES, PROMPT_COMPLETION)
DPO_FORMATS = (PREFERENCE, IMPLICIT_PREFERENCE)
TYPE_OF_FORMAT = {MESSAGES: "sft", PROMPT_COMPLETION: "sft", PREFERENCE: "dpo", IMPLICIT_PREFERENCE: "dpo"}
REQUIRED_FIELDS = {
    MESSAGES: ("messages",),
    PROMPT_COMPLETION: ("prompt", "completion"),
    PREFERENCE: ("prompt", "chosen", "rejected"),
    IMPLICIT_PREFERENCE: ("chosen", "rejected"),
}

# Issue bits of one example.
MISSING, TYPES, ROLES, EMPTY = 1, 2, 4, 8

VALID_ROLES = frozenset(("system", "user", "assistant"))
# A category / label field, at the top level or under "metadata", feeds the balance check.
LABEL_KEYS = ("category", "label", "task", "intent", "domain", "type")


def detect_format(obj: dict) -> int:
    """The format one example looks like, from its keys (trl's own rule: which supported keys are present)."""
    if "messages" in obj:
        return MESSAGES
    if "chosen" in obj or "rejected" in obj:
        return PREFERENCE if "prompt" in obj else IMPLICIT_PREFERENCE
    if "prompt" in obj or "completion" in obj:
        return PROMPT_COMPLETION
    return UNKNOWN


class Example:
    """What the validator keeps of one parsed line while its batch is processed."""

    __slots__ = ("chosen", "fmt", "issues", "label", "messages_for_template", "rejected", "text", "turns")

    def __init__(self) -> None:
        self.fmt = UNKNOWN
        self.issues = 0
        self.text = ""
        self.turns = 0
        self.label: Any = None
        self.chosen: str | None = None
        self.rejected: str | None = None
        self.messages_for_template: list | None = None


def _check_messages(msgs: Any, kind: str, parts: list[str]) -> tuple[int, int]:
    """Check a message list; append its text to parts. kind: conversation | prompt | reply. Returns (issues, turns)."""
    if not isinstance(msgs, list):
        return TYPES, 0
    if not msgs:
        return EMPTY | (ROLES if kind != "prompt" else 0), 0
    issues = 0
    previous = None
    seen_assistant = False
    for index, message in enumerate(msgs):
        if not isinstance(message, dict):
            issues |= TYPES
            continue
        role = message.get("role")
        content = message.get("content")
        if role is None or content is None:
            issues |= MISSING
        elif not isinstance(role, str) or not isinstance(content, str):
            issues |= TYPES
        if isinstance(content, str):
            if not content or content.isspace():
                issues |= EMPTY
            parts.append(f"{role}: {content}")
        if not isinstance(role, str):
            continue
        if role not in VALID_ROLES:
            issues |= ROLES
            previous = role
            continue
        if kind == "reply":
            if role != "assistant":
                issues |= ROLES
        elif role == "system":
            if index != 0:
                issues |= ROLES
        elif previous in (None, "system"):
            if role != "user":
                issues |= ROLES
        elif role == previous:
            issues |= ROLES
        if role == "assistant":
            seen_assistant = True
        previous = role
    if kind == "conversation" and (not seen_assistant or previous != "assistant"):
        issues |= ROLES
    if kind == "prompt" and previous != "user":
        issues |= ROLES
    return issues, len(msgs)


def _check_text(value: Any, parts: list[str], tag: str) -> int:
    if not isinstance(value, str):
        return TYPES
    parts.append(f"{tag}: {value}")
    return EMPTY if (not value or value.isspace()) else 0


def _reply_text(value: Any) -> str:
    """The text of a completion / chosen / rejected value, for DPO comparisons."""
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return "\n".join(str(m.get("content", "")) for m in value if isinstance(m, dict))
    return ""


def inspect_example(obj: dict, keep_template_messages: bool = False) -> Example:
    """Detect one example's format and check its fields, types, roles and empty content."""
    ex = Example()
    fmt = ex.fmt = detect_format(obj)
    issues = 0
    parts: list[str] = []
    if fmt == UNKNOWN:
        ex.issues = MISSING
        return ex
    for field in REQUIRED_FIELDS[fmt]:
        if field not in obj:
            issues |= MISSING
    if fmt == MESSAGES:
        got, ex.turns = _check_messages(obj.get("messages"), "conversation", parts)
        issues |= got
        if keep_template_messages:
            ex.messages_for_template = obj.get("messages")
    elif fmt == PROMPT_COMPLETION:
        prompt, completion = obj.get("prompt"), obj.get("completion")
        if isinstance(prompt, list) or isinstance(completion, list):
            # trl needs both sides in the same style: both strings or both message lists.
            if not (isinstance(prompt, list) and isinstance(completion, list)):
                issues |= TYPES if ("prompt" in obj and "completion" in obj) else 0
            a, ta = _check_messages(prompt, "prompt", parts) if prompt is not None else (0, 0)
            b, tb = _check_messages(completion, "reply", parts) if completion is not None else (0, 0)
            issues |= a | b
            ex.turns = ta + tb
        else:
            for tag, value in (("prompt", prompt), ("completion", completion)):
                if value is not None:
                    issues |= _check_text(value, parts, tag)
            ex.turns = 2
        if keep_template_messages and isinstance(prompt, list) and isinstance(completion, list):
            ex.messages_for_template = prompt + completion
    else:
        prompt = obj.get("prompt")
        chosen, rejected = obj.get("chosen"), obj.get("rejected")
        conversational = any(isinstance(v, list) for v in (prompt, chosen, rejected))
        reply_kind = "reply" if fmt == PREFERENCE else "conversation"
        fields = (("chosen", chosen, reply_kind), ("rejected", rejected, reply_kind))
        if fmt == PREFERENCE:
            fields = (("prompt", prompt, "prompt"), *fields)
        for tag, value, kind in fields:
            if value is None:
                continue  # already counted as a missing field
            if conversational:
                if not isinstance(value, list):
                    issues |= TYPES
                    continue
                got, turns = _check_messages(value, kind, parts)
                issues |= got
                ex.turns = max(
                    ex.turns, turns + (len(prompt) if isinstance(prompt, list) and tag != "prompt" else 0)
                )
            else:
                issues |= _check_text(value, parts, tag)
                ex.turns = 2
        ex.chosen = _reply_text(
            chosen[-1:] if fmt == IMPLICIT_PREFERENCE and isinstance(chosen, list) else chosen
        )
        ex.rejected = _reply_text(
            rejected[-1:] if fmt == IMPLICIT_PREFERENCE and isinstance(rejected, list) else rejected
        )
        if keep_template_messages and isinstance(chosen, list):
            ex.messages_for_template = (prompt if isinstance(prompt, list) else []) + chosen
    ex.issues = issues
    ex.text = "\n".join(parts)
    ex.label = _label(obj)
    return ex


_LABEL_KEY_SET = frozenset((*LABEL_KEYS, "metadata"))


def _label(obj: dict) -> Any:
    if _LABEL_KEY_SET.isdisjoint(obj):
        return None
    for key in LABEL_KEYS:
        value = obj.get(key)
        if isinstance(value, str | int | bool):
            return value
    meta = obj.get("metadata")
    if isinstance(meta, dict):
        for key in LABEL_KEYS:
            value = meta.get(key)
            if isinstance(value, str | int | bool):
                return value
    return None
