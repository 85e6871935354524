"""What the validator accumulates per batch, and how each check turns that into a score, counts and examples."""

from __future__ import annotations

import math
from array import array
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

from datasets_app.library.validation import formats as F
from datasets_app.library.validation import pii, textsig
from datasets_app.library.validation.lines import read_texts

MAX_EXAMPLES = 20
NOT_OBJECT, BLANK = 16, 32  # issue bits for lines that are not examples at all
MAX_LABELS = 100  # more distinct values than this: the field is not a category
NEAR_DUP_THRESHOLD = 0.8
CANDIDATES_PER_BUCKET = 3  # each line is paired with up to this many earlier lines sharing an LSH band
MAX_VERIFY_LINES = 50_000  # lines re-read to verify near-duplicate candidates (bounds memory and time)
MAX_VERIFY_PAIRS = 300_000
OUTLIER_IQR = 3.0
MIN_LOG_IQR = 0.25


class Accumulator:
    """Per-line facts kept while streaming: a few bytes per line, never the parsed JSON."""

    def __init__(self, tokenizer: Any = None, max_seq_len: int | None = None):
        self.tokenizer = tokenizer
        self.max_seq_len = max_seq_len
        self.offsets = array("Q")
        self.line_formats = bytearray()
        self.line_issues = bytearray()
        self.nonblank = 0
        self.objects = 0
        self.invalid_lines = 0
        self.blank_lines = 0
        self.first_invalid: tuple[int, str] = (0, "")
        self.invalid_examples: list[dict[str, Any]] = []
        self.format_counts: Counter = Counter()
        self.obj_lines = array("I")
        self.obj_lengths = array("I")
        self.obj_turns = array("H")
        self.obj_hashes = array("Q")
        self.token_lengths = array("I")
        self.labels: Counter = Counter()
        self.labelled = 0
        self.labels_overflow = False
        self.band_lines: list[np.ndarray] = []
        self.band_keys: list[np.ndarray] = []
        self.pii_lines: dict[int, set[str]] = {}
        self.pii_counts: Counter = Counter()
        self.pii_examples: list[dict[str, Any]] = []
        self.dpo_pairs = 0
        self.dpo_identical: list[int] = []
        self.dpo_chosen_len = array("I")
        self.dpo_rejected_len = array("I")
        self.notes: list[str] = []
        self.max_line_bytes: int | None = None
        self.too_long: list[tuple[int, int]] = []

    @property
    def lines(self) -> int:
        return len(self.line_issues)

    def too_long_line(self, line: int, size: int) -> None:
        """An example over the per-line byte limit: not parsed, counted as unusable, and named in the report."""
        limit = self.max_line_bytes or 0
        self.invalid_line(
            line, f"is {size / 1048576:.1f} MB, over the {limit / 1048576:g} MB limit for one example"
        )
        self.too_long.append((line, size))

    def blank_line(self, line: int) -> None:
        self.line_issues.append(BLANK)
        self.blank_lines += 1

    def invalid_line(self, line: int, reason: str) -> None:
        self.line_issues.append(NOT_OBJECT)
        self.nonblank += 1
        self.invalid_lines += 1
        if self.invalid_lines == 1:
            self.first_invalid = (line, reason)
        if len(self.invalid_examples) < MAX_EXAMPLES:
            self.invalid_examples.append({"line": line, "reason": reason})

    def example_line(self, line: int, ex: F.Example) -> None:
        self.line_issues.append(ex.issues)
        self.nonblank += 1
        self.objects += 1
        self.format_counts[ex.fmt] += 1

    def add_batch(self, batch: list[tuple[int, F.Example]]) -> None:
        """Record a batch of parsed examples; run the batch-wide (vectorised) PII and fingerprint passes."""
        lines = np.fromiter((ln for ln, _ in batch), dtype=np.int64, count=len(batch))
        texts: list[str] = []
        for line, ex in batch:
            self.obj_lines.append(line)
            self.obj_lengths.append(min(len(ex.text), 2**32 - 1))
            self.obj_turns.append(min(ex.turns, 65535))
            texts.append(ex.text)
            if ex.label is not None:
                self._count_label(ex.label)
            if ex.chosen is not None and ex.rejected is not None:
                self.dpo_pairs += 1
                if ex.chosen.strip() == ex.rejected.strip():
                    self.dpo_identical.append(line)
                self.dpo_chosen_len.append(len(ex.chosen))
                self.dpo_rejected_len.append(len(ex.rejected))
        bt = textsig.BatchText.build(texts)
        bw = self._fingerprint(bt, texts, lines)
        self._scan_pii(bt, lines, bw)
        if self.tokenizer is not None:
            self._count_tokens(batch)

    def _count_label(self, label: Any) -> None:
        self.labelled += 1
        if label in self.labels or len(self.labels) < MAX_LABELS:
            self.labels[label] += 1
        else:
            self.labels_overflow = True

    def _scan_pii(self, bt: textsig.BatchText, lines: np.ndarray, bw: textsig.BatchWords | None) -> None:
        found = list(pii.scan_buffer(bt.buf, bt.arr, (bw.starts, bw.ends) if bw is not None else None))
        if not found:
            return
        docs = bt.doc_of([pos for _k, pos, _v in found])
        for (kind, _pos, value), doc in zip(found, docs.tolist(), strict=True):
            line = int(lines[doc])
            self.pii_counts[kind] += 1
            self.pii_lines.setdefault(line, set()).add(kind)
            if len(self.pii_examples) < MAX_EXAMPLES:
                self.pii_examples.append({"line": line, "kind": kind, "value": pii.mask(value)})

    def _fingerprint(
        self, bt: textsig.BatchText, texts: list[str], lines: np.ndarray
    ) -> textsig.BatchWords | None:
        """Exact hashes and MinHash band keys; returns the word bounds when they match bt (for the PII pass)."""
        too_long = [i for i, t in enumerate(texts) if len(t) > textsig.MAX_SKETCH_BYTES]
        if too_long:
            # A giant example is not sketched (it would dominate the batch); its exact hash is taken directly.
            texts = ["" if i in too_long else t for i, t in enumerate(texts)]
            bt = textsig.BatchText.build(texts)
        bw = textsig.batch_words(bt)
        hashes = textsig.exact_hashes(bw)
        for i in too_long:
            hashes[i] = textsig.exact_hash_of_text(texts[i])
        self.obj_hashes.extend(hashes.tolist())
        flat, offsets = textsig.shingles(bw)
        has = np.flatnonzero(np.diff(offsets) > 0)
        if len(has):
            kept_offsets = np.append(offsets[has], offsets[-1])
            self.band_lines.append(lines[has])
            self.band_keys.append(textsig.band_hashes(flat, kept_offsets))
        return None if too_long else bw

    def _count_tokens(self, batch: list[tuple[int, F.Example]]) -> None:
        tok = self.tokenizer
        rendered = []
        for _line, ex in batch:
            text = ex.text
            if ex.messages_for_template and getattr(tok, "chat_template", None):
                try:
                    text = tok.apply_chat_template(ex.messages_for_template, tokenize=False)
                except Exception:
                    text = ex.text
            rendered.append(text)
        ids = tok(rendered, add_special_tokens=False)["input_ids"]
        self.token_lengths.extend(len(x) for x in ids)


def sorted_unique(values: np.ndarray) -> np.ndarray:
    """np.unique for large int arrays without its hash-table path (several times slower here)."""
    values = np.sort(values)
    if len(values) < 2:
        return values
    keep = np.empty(len(values), dtype=bool)
    keep[0] = True
    np.not_equal(values[1:], values[:-1], out=keep[1:])
    return values[keep]


def _first_lines(mask: np.ndarray) -> list[int]:
    return (np.flatnonzero(mask)[:MAX_EXAMPLES] + 1).tolist()


def _exact_duplicates(acc: Accumulator) -> tuple[np.ndarray, list[dict[str, int]]]:
    """Lines whose normalised example equals an earlier line's: (duplicate lines, examples with the first line)."""
    hashes = np.frombuffer(acc.obj_hashes, dtype=np.uint64)
    lines = np.frombuffer(acc.obj_lines, dtype=np.uint32).astype(np.int64)
    keep = hashes != 0
    hashes, lines = hashes[keep], lines[keep]
    if not len(hashes):
        return np.empty(0, np.int64), []
    order = np.argsort(hashes, kind="stable")
    sorted_h, sorted_l = hashes[order], lines[order]
    same = np.concatenate([[False], sorted_h[1:] == sorted_h[:-1]])
    group_start = np.maximum.accumulate(np.where(~same, np.arange(len(same)), 0))
    dup_lines = sorted_l[same]
    firsts = sorted_l[group_start][same]
    order2 = np.argsort(dup_lines)
    dup_lines, firsts = dup_lines[order2], firsts[order2]
    examples = [
        {"line": int(d), "duplicate_of": int(f)}
        for d, f in zip(dup_lines[:MAX_EXAMPLES], firsts[:MAX_EXAMPLES], strict=True)
    ]
    return dup_lines, examples


def _candidate_pairs(acc: Accumulator) -> np.ndarray:
    """Line pairs (earlier, later) sharing at least one LSH band key, as one int64 key per pair.

    Band by band, so only one column of keys is ever copied: memory stays flat with a million lines.
    """
    if not acc.band_keys:
        return np.empty(0, np.int64)
    lines = np.concatenate(acc.band_lines).astype(np.int64)
    found = []
    for band in range(acc.band_keys[0].shape[1]):
        column = np.concatenate([keys[:, band] for keys in acc.band_keys])
        order = np.argsort(column, kind="stable")
        col, ids = column[order], lines[order]
        for k in range(1, CANDIDATES_PER_BUCKET + 1):
            eq = col[k:] == col[:-k]
            if not eq.any():
                break
            found.append(ids[:-k][eq] * (1 << 32) + ids[k:][eq])
    if not found:
        return np.empty(0, np.int64)
    return sorted_unique(np.concatenate(found))


def _near_duplicates(
    acc: Accumulator, path: Path, exact_dups: np.ndarray
) -> tuple[dict[int, tuple[int, float]], dict[str, Any]]:
    """Verify LSH candidates with the real Jaccard of their shingle sets; returns later line -> (earlier, J)."""

    pairs = _candidate_pairs(acc)
    details: dict[str, Any] = {
        "candidates": len(pairs),
        "threshold": NEAR_DUP_THRESHOLD,
        "shingle_words": textsig.SHINGLE,
    }
    if not len(pairs):
        return {}, details
    first, later = pairs >> 32, pairs & 0xFFFFFFFF
    # A pair of exact duplicates is already counted there; a line that is an exact copy is not re-counted here.
    lines = np.frombuffer(acc.obj_lines, dtype=np.uint32).astype(np.int64)
    hashes = np.frombuffer(acc.obj_hashes, dtype=np.uint64)
    same = hashes[np.searchsorted(lines, first)] == hashes[np.searchsorted(lines, later)]
    keep = ~same & ~np.isin(later, exact_dups)
    first, later = first[keep], later[keep]
    needed = sorted_unique(np.concatenate([first, later]))
    if len(needed) > MAX_VERIFY_LINES:
        limit = needed[MAX_VERIFY_LINES - 1]
        keep = (first <= limit) & (later <= limit)
        first, later = first[keep], later[keep]
        details["truncated_after_line"] = int(limit)
        acc.notes.append(f"Near duplicates were verified only up to line {int(limit)} (too many candidates).")
    found: dict[int, tuple[int, float]] = {}
    if not len(first):
        return found, details
    wanted = sorted_unique(np.concatenate([first, later])).tolist()
    sets: dict[int, np.ndarray] = {}
    for start in range(0, len(wanted), 2000):
        chunk = wanted[start : start + 2000]
        texts = read_texts(path, acc.offsets, chunk)
        for line, shingle_set in zip(chunk, textsig.shingle_sets([texts[ln] for ln in chunk]), strict=True):
            sets[line] = shingle_set
    verified = 0
    for a, b in zip(first.tolist(), later.tolist(), strict=True):
        if b in found:
            continue  # one verified earlier partner is enough to count this line
        if verified >= MAX_VERIFY_PAIRS:
            details["pairs_not_verified"] = len(first) - verified
            acc.notes.append(
                f"Near duplicates: {len(first) - verified} candidate pairs were left unverified (too many)."
            )
            break
        verified += 1
        j = textsig.jaccard(sets[a], sets[b])
        if j >= NEAR_DUP_THRESHOLD:
            found[b] = (a, j)
    details["verified_pairs"] = verified
    return found, details


def _length_outliers(lengths: np.ndarray, lines: np.ndarray) -> tuple[np.ndarray, dict[str, Any]]:
    positive = lengths > 0
    if positive.sum() < 20:
        return np.empty(0, np.int64), {"note": "too few examples for outlier statistics"}
    logs = np.log(lengths[positive].astype(np.float64))
    q1, q3 = np.percentile(logs, [25, 75])
    iqr = max(q3 - q1, MIN_LOG_IQR)
    low, high = q1 - OUTLIER_IQR * iqr, q3 + OUTLIER_IQR * iqr
    out = (logs < low) | (logs > high)
    return lines[positive][out], {"low_chars": int(math.exp(low)), "high_chars": int(math.exp(high))}


def _histogram(values: np.ndarray) -> dict[str, int]:
    """Counts per power-of-two bucket: '0', '1', '2-3', '4-7', ..."""
    if not len(values):
        return {}
    buckets = np.zeros(len(values), dtype=np.int64)
    nz = values > 0
    buckets[nz] = np.floor(np.log2(values[nz])).astype(np.int64) + 1
    out = {}
    for b, n in zip(*np.unique(buckets, return_counts=True), strict=True):
        label = "0" if b == 0 else (str(2 ** (b - 1)) if b == 1 else f"{2 ** (b - 1)}-{2**b - 1}")
        out[label] = int(n)
    return out
