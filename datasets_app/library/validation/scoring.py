"""The quality score: per-check scores (0–1) weighted into 0–100, hard caps, and the user guide's bands.

A check's score falls linearly with the share of affected items: score = max(0, 1 − rate × sensitivity), so with
sensitivity 10 a check reaches 0 when 10 % of the items fail it. The weights and sensitivities below are the
documented contract; the report repeats them so a user can see why a dataset got its score.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# name: (label, weight, sensitivity). Weights of the checks that apply are renormalised to 100.
CHECKS: dict[str, tuple[str, float, float]] = {
    "json_valid": ("JSON validity (one object per line)", 20, 10),
    "required_fields": ("Required fields for the format", 10, 10),
    "field_types": ("Field types", 10, 10),
    "roles": ("Roles (system/user/assistant, alternating, assistant reply)", 10, 5),
    "empty_content": ("Empty or whitespace-only content", 10, 10),
    "exact_duplicates": ("Exact duplicates", 10, 5),
    "near_duplicates": ("Near duplicates (MinHash + Jaccard)", 5, 5),
    "balance": ("Balance (lengths, turns, categories)", 5, 1),
    "dpo_identical": ("DPO: chosen identical to rejected", 10, 10),
    "dpo_length_bias": ("DPO: length bias between chosen and rejected", 5, 1),
    "pii": ("PII and secrets", 10, 10),
    "length_outliers": ("Length outliers", 5, 10),
    "max_seq_len": ("Longer than the max sequence length", 5, 5),
    "too_long": ("Examples over the size limit for one line", 5, 100),
}
DPO_ONLY = ("dpo_identical", "dpo_length_bias")

BANDS = (
    (95.0, "excellent", "Excellent", "Ready for production training"),
    (90.0, "good", "Good", "Minor issues, safe to use"),
    (85.0, "fair", "Fair", "Review issues before training"),
    (0.0, "poor", "Poor", "Needs cleanup"),
)

# Hard caps: (cap, reason). Applied after the weighted sum; the lowest applicable cap wins.
CAP_INVALID_LINES = 84.0  # > 5 % of lines invalid (bad JSON, missing fields, wrong types): Poor
CAP_PII = 89.0  # any personal data: at most Fair (below Good)
CAP_SECRETS = 84.0  # any API key / private key: Poor
CAP_DUPLICATES = 84.0  # > 20 % exact duplicates: Poor
CAP_DPO_IDENTICAL = 84.0  # > 5 % of DPO pairs with chosen == rejected: Poor
INVALID_LINES_LIMIT = 0.05
DUPLICATES_LIMIT = 0.20
DPO_IDENTICAL_LIMIT = 0.05
CAP_TOO_LONG = 84.0  # any example over the byte limit, or over max_seq_len tokens when one was given: Poor


def band_for(score: float | None) -> str:
    """'excellent' (95–100), 'good' (90–94), 'fair' (85–89), 'poor' (< 85) — the user guide's bands."""
    if score is None:
        return ""
    for floor, key, _label, _meaning in BANDS:
        if score >= floor:
            return key
    return "poor"


def band_label(band: str) -> str:
    return next((label for _f, key, label, _m in BANDS if key == band), "")


def band_meaning(band: str) -> str:
    return next((meaning for _f, key, _l, meaning in BANDS if key == band), "")


@dataclass
class CheckResult:
    """One check: its 0–1 score, how many items it flagged out of how many, and up to 20 example line numbers."""

    name: str
    score: float
    count: int
    total: int
    examples: list[int] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)
    status: str = "pass"

    @property
    def label(self) -> str:
        return CHECKS[self.name][0]

    @property
    def weight(self) -> float:
        return CHECKS[self.name][1]

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "label": self.label,
            "score": round(self.score, 4),
            "count": self.count,
            "total": self.total,
            "rate": round(self.count / self.total, 6) if self.total else 0.0,
            "examples": self.examples[:20],
            "status": self.status,
            "weight": self.weight,
            "details": self.details,
        }


def rate_score(name: str, count: int, total: int) -> float:
    if not total:
        return 1.0
    sensitivity = CHECKS[name][2]
    return max(0.0, 1.0 - (count / total) * sensitivity)


def combine(
    checks: dict[str, CheckResult], facts: dict[str, Any]
) -> tuple[float, list[dict[str, Any]], dict[str, float]]:
    """Weighted score of the checks that apply, then the hard caps. Returns (score, caps applied, weights used)."""
    weights = {name: CHECKS[name][1] for name in checks}
    total_weight = sum(weights.values())
    raw = 100.0 * sum(checks[n].score * w for n, w in weights.items()) / total_weight if total_weight else 0.0
    caps: list[dict[str, Any]] = []
    if facts.get("valid_examples", 0) == 0:
        caps.append({"cap": 0.0, "reason": "no usable example"})
    if facts.get("invalid_line_rate", 0.0) > INVALID_LINES_LIMIT:
        caps.append(
            {"cap": CAP_INVALID_LINES, "reason": f"more than {INVALID_LINES_LIMIT:.0%} of lines are invalid"}
        )
    if facts.get("secret_lines", 0):
        caps.append({"cap": CAP_SECRETS, "reason": "API keys or private keys found"})
    if facts.get("pii_lines", 0):
        caps.append({"cap": CAP_PII, "reason": "personal data (PII) found"})
    if facts.get("duplicate_rate", 0.0) > DUPLICATES_LIMIT:
        caps.append({"cap": CAP_DUPLICATES, "reason": f"more than {DUPLICATES_LIMIT:.0%} exact duplicates"})
    if facts.get("dpo_identical_rate", 0.0) > DPO_IDENTICAL_LIMIT:
        caps.append(
            {
                "cap": CAP_DPO_IDENTICAL,
                "reason": f"more than {DPO_IDENTICAL_LIMIT:.0%} of pairs have chosen == rejected",
            }
        )
    if facts.get("too_long_lines", 0):
        caps.append({"cap": CAP_TOO_LONG, "reason": "examples over the size limit for one line"})
    if facts.get("over_max_seq_len", 0):
        caps.append({"cap": CAP_TOO_LONG, "reason": "examples longer than the max sequence length"})
    score = raw
    for cap in caps:
        score = min(score, cap["cap"])
    for cap in caps:
        cap["applied"] = cap["cap"] < raw
    normalised = {n: round(100.0 * w / total_weight, 2) for n, w in weights.items()} if total_weight else {}
    return round(score, 1), caps, normalised


def set_statuses(checks: dict[str, CheckResult], caps: list[dict[str, Any]]) -> None:
    """pass: nothing found; warn: found but the check still scores ≥ 0.9; fail: below 0.9 or it caused a cap."""
    capped_by = {"pii"} if any("PII" in c["reason"] or "keys" in c["reason"] for c in caps) else set()
    capped_by |= {"too_long"} if any("size limit" in c["reason"] for c in caps) else set()
    capped_by |= {"max_seq_len"} if any("max sequence length" in c["reason"] for c in caps) else set()
    for name, check in checks.items():
        if check.score < 0.9 or name in capped_by:
            check.status = "fail"
        elif check.count or check.score < 0.999:
            check.status = "warn"
        else:
            check.status = "pass"
