"""Turn what the streaming pass accumulated into the per-check results, the facts the caps need, and statistics."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from datasets_app.library.validation import formats as F
from datasets_app.library.validation import pii
from datasets_app.library.validation.checks import (
    BLANK,
    MAX_EXAMPLES,
    NOT_OBJECT,
    Accumulator,
    _exact_duplicates,
    _first_lines,
    _histogram,
    _length_outliers,
    _near_duplicates,
)
from datasets_app.library.validation.scoring import CheckResult, rate_score

LENGTH_BIAS_FREE = 0.6  # up to 80 % of pairs one way round is not yet a systematic bias
MIN_PAIRS_FOR_BIAS = 20


def _check(name: str, count: int, total: int, examples: list[int], **details: Any) -> CheckResult:
    return CheckResult(name, rate_score(name, count, total), count, total, examples[:MAX_EXAMPLES], details)


def finish_checks(
    acc: Accumulator, fmt: int, path: Path
) -> tuple[dict[str, CheckResult], dict[str, Any], dict[str, Any]]:
    issues = np.frombuffer(bytes(acc.line_issues), dtype=np.uint8)
    formats = np.frombuffer(bytes(acc.line_formats), dtype=np.uint8)
    is_obj = (issues & (NOT_OBJECT | BLANK)) == 0
    lines_total = len(issues)
    objects = int(is_obj.sum())
    checks: dict[str, CheckResult] = {}

    bad_json = (issues & (NOT_OBJECT | BLANK)) != 0
    checks["json_valid"] = _check(
        "json_valid",
        int(bad_json.sum()),
        lines_total,
        _first_lines(bad_json),
        invalid=acc.invalid_lines,
        blank=acc.blank_lines,
        reasons=acc.invalid_examples,
    )
    mismatch = is_obj & (formats != fmt) & (formats != F.UNKNOWN)
    missing = is_obj & (((issues & F.MISSING) != 0) | (formats != fmt))
    checks["required_fields"] = _check(
        "required_fields",
        int(missing.sum()),
        objects,
        _first_lines(missing),
        required=list(F.REQUIRED_FIELDS.get(fmt, ())),
        other_format_lines=int(mismatch.sum()),
    )
    for name, bit in (("field_types", F.TYPES), ("roles", F.ROLES), ("empty_content", F.EMPTY)):
        mask = is_obj & ((issues & bit) != 0)
        checks[name] = _check(name, int(mask.sum()), objects, _first_lines(mask))

    dup_lines, dup_examples = _exact_duplicates(acc)
    checks["exact_duplicates"] = _check(
        "exact_duplicates",
        len(dup_lines),
        objects,
        dup_lines[:MAX_EXAMPLES].tolist(),
        pairs=dup_examples,
        normalisation="case-folded, whitespace-collapsed text of every field (xxh3)",
    )
    near, near_details = _near_duplicates(acc, path, dup_lines)
    near_lines = sorted(near)
    near_details["pairs"] = [
        {"line": b, "similar_to": near[b][0], "jaccard": round(near[b][1], 3)}
        for b in near_lines[:MAX_EXAMPLES]
    ]
    checks["near_duplicates"] = _check("near_duplicates", len(near), objects, near_lines, **near_details)

    lengths = np.frombuffer(acc.obj_lengths, dtype=np.uint32).astype(np.int64)
    turns = np.frombuffer(acc.obj_turns, dtype=np.uint16).astype(np.int64)
    obj_lines = np.frombuffer(acc.obj_lines, dtype=np.uint32).astype(np.int64)
    checks["balance"] = _balance(acc, objects)

    is_dpo = fmt in F.DPO_FORMATS
    facts_dpo_rate = 0.0
    if is_dpo:
        checks["dpo_identical"] = _check(
            "dpo_identical", len(acc.dpo_identical), acc.dpo_pairs, acc.dpo_identical
        )
        facts_dpo_rate = len(acc.dpo_identical) / acc.dpo_pairs if acc.dpo_pairs else 0.0
        checks["dpo_length_bias"] = _length_bias(acc)

    pii_lines = sorted(acc.pii_lines)
    secret_lines = [ln for ln in pii_lines if acc.pii_lines[ln] & pii.SECRET_KINDS]
    checks["pii"] = _check(
        "pii",
        len(pii_lines),
        objects,
        pii_lines,
        by_kind=dict(acc.pii_counts),
        findings=acc.pii_examples,
        secret_lines=len(secret_lines),
    )

    outliers, outlier_details = _length_outliers(lengths, obj_lines)
    checks["length_outliers"] = _check(
        "length_outliers", len(outliers), objects, outliers.tolist(), **outlier_details
    )
    token_stats: dict[str, Any] = {}
    if acc.tokenizer is not None and len(acc.token_lengths):
        tokens = np.frombuffer(acc.token_lengths, dtype=np.uint32).astype(np.int64)
        token_stats = {
            "p50": int(np.percentile(tokens, 50)),
            "p95": int(np.percentile(tokens, 95)),
            "max": int(tokens.max()),
        }
        if acc.max_seq_len:
            over = tokens > acc.max_seq_len
            checks["max_seq_len"] = _check(
                "max_seq_len",
                int(over.sum()),
                len(tokens),
                obj_lines[over][:MAX_EXAMPLES].tolist(),
                max_seq_len=acc.max_seq_len,
                tokenizer=getattr(acc.tokenizer, "name_or_path", ""),
            )

    if acc.too_long:
        checks["too_long"] = _check(
            "too_long",
            len(acc.too_long),
            lines_total,
            [line for line, _size in acc.too_long],
            max_line_bytes=acc.max_line_bytes,
            largest_bytes=max(size for _line, size in acc.too_long),
        )

    invalid = bad_json & ~((issues & BLANK) != 0)
    structurally_bad = is_obj & (((issues & (F.MISSING | F.TYPES)) != 0) | (formats != fmt))
    nonblank = max(acc.nonblank, 1)
    valid = is_obj & (issues == 0) & (formats == fmt)
    facts = {
        "valid_examples": int(valid.sum()),
        "invalid_line_rate": (int(invalid.sum()) + int(structurally_bad.sum())) / nonblank,
        "pii_lines": len(pii_lines),
        "secret_lines": len(secret_lines),
        "duplicate_rate": len(dup_lines) / objects if objects else 0.0,
        "dpo_identical_rate": facts_dpo_rate,
        "too_long_lines": len(acc.too_long),
        "over_max_seq_len": checks["max_seq_len"].count if "max_seq_len" in checks else 0,
    }
    stats = {
        "length_chars": _summary(lengths),
        "length_histogram": _histogram(lengths),
        "turns_histogram": {
            str(k): int(v) for k, v in zip(*np.unique(turns, return_counts=True), strict=True)
        }
        if len(turns)
        else {},
        "labels": {str(k): v for k, v in acc.labels.most_common(20)},
        "distinct_labels": len(acc.labels),
        "formats": {F.FORMAT_NAMES[c] or "unknown": n for c, n in acc.format_counts.items()},
        "tokens": token_stats,
    }
    return checks, facts, stats


def _summary(values: np.ndarray) -> dict[str, int]:
    if not len(values):
        return {}
    p5, p50, p95 = np.percentile(values, [5, 50, 95])
    return {
        "min": int(values.min()),
        "p5": int(p5),
        "p50": int(p50),
        "p95": int(p95),
        "max": int(values.max()),
    }


def _balance(acc: Accumulator, objects: int) -> CheckResult:
    """Scored on the category/label field when there is one: normalised entropy, full marks from 0.9."""
    details: dict[str, Any] = {"label_field_share": round(acc.labelled / objects, 4) if objects else 0.0}
    k = len(acc.labels)
    if not objects or acc.labelled * 2 < objects or acc.labels_overflow or k < 2:
        details["note"] = (
            "no category/label field with 2–100 values on most examples: lengths and turns are reported only"
        )
        return CheckResult("balance", 1.0, 0, objects, [], details)
    counts = np.array(list(acc.labels.values()), dtype=np.float64)
    shares = counts / counts.sum()
    entropy = float(-(shares * np.log(shares)).sum() / math.log(k))
    mean = counts.mean()
    excess = int(np.clip(counts - mean, 0, None).sum())
    details.update(
        {
            "normalised_entropy": round(entropy, 4),
            "classes": k,
            "smallest_share": round(float(shares.min()), 4),
        }
    )
    return CheckResult("balance", min(1.0, entropy / 0.9), excess, int(counts.sum()), [], details)


def _length_bias(acc: Accumulator) -> CheckResult:
    chosen = np.frombuffer(acc.dpo_chosen_len, dtype=np.uint32).astype(np.int64)
    rejected = np.frombuffer(acc.dpo_rejected_len, dtype=np.uint32).astype(np.int64)
    longer = int((chosen > rejected).sum())
    shorter = int((chosen < rejected).sum())
    decided = longer + shorter
    details: dict[str, Any] = {
        "chosen_longer": longer,
        "chosen_shorter": shorter,
        "equal_length": int(len(chosen) - decided),
    }
    if decided < MIN_PAIRS_FOR_BIAS:
        details["note"] = f"fewer than {MIN_PAIRS_FOR_BIAS} pairs of different lengths"
        return CheckResult("dpo_length_bias", 1.0, 0, len(chosen), [], details)
    share = longer / decided
    strength = abs(share - 0.5) * 2
    score = (
        1.0
        if strength <= LENGTH_BIAS_FREE
        else max(0.0, 1.0 - (strength - LENGTH_BIAS_FREE) / (1 - LENGTH_BIAS_FREE))
    )
    ratio = float(np.median((chosen + 1) / (rejected + 1)))
    details.update({"chosen_longer_share": round(share, 4), "median_length_ratio": round(ratio, 3)})
    count = max(longer, shorter) if strength > LENGTH_BIAS_FREE else 0
    return CheckResult("dpo_length_bias", score, count, len(chosen), [], details)
