"""A/B statistics: exact match, token-F1, latency percentiles, paired bootstrap CI and a plain-words verdict."""

from __future__ import annotations

import re
import string
from collections import Counter
from dataclasses import dataclass

import numpy as np

_PUNCT = re.compile(f"[{re.escape(string.punctuation)}]")


def normalize(text: str) -> str:
    return " ".join(_PUNCT.sub(" ", text.lower()).split())


def exact_match(prediction: str, reference: str) -> float:
    return 1.0 if normalize(prediction) == normalize(reference) else 0.0


def token_f1(prediction: str, reference: str) -> float:
    """SQuAD-style bag-of-tokens F1 after normalisation."""
    pred, ref = normalize(prediction).split(), normalize(reference).split()
    if not pred or not ref:
        return 1.0 if pred == ref else 0.0
    common = sum((Counter(pred) & Counter(ref)).values())
    if common == 0:
        return 0.0
    precision, recall = common / len(pred), common / len(ref)
    return 2 * precision * recall / (precision + recall)


def percentile(values: list[float], q: float) -> float | None:
    return float(np.percentile(values, q)) if values else None


@dataclass
class PairedDifference:
    metric: str
    mean_a: float
    mean_b: float
    diff: float  # B − A
    ci_low: float
    ci_high: float

    @property
    def significant(self) -> bool:
        return self.ci_low > 0 or self.ci_high < 0

    def as_dict(self) -> dict:
        return {**self.__dict__, "significant": self.significant}


def paired_bootstrap(
    a: list[float], b: list[float], *, metric: str, resamples: int = 2000, seed: int = 0
) -> PairedDifference:
    """95% CI of mean(B − A), resampling prompts with replacement (the pairing is kept)."""
    if len(a) != len(b) or not a:
        raise ValueError("paired bootstrap needs two equally long, non-empty lists")
    diffs = np.asarray(b, dtype=float) - np.asarray(a, dtype=float)
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(diffs), size=(resamples, len(diffs)))
    means = diffs[idx].mean(axis=1)
    low, high = np.percentile(means, [2.5, 97.5])
    return PairedDifference(
        metric, float(np.mean(a)), float(np.mean(b)), float(diffs.mean()), float(low), float(high)
    )


def verdict(
    difference: PairedDifference | None, name_a: str = "A", name_b: str = "B", *, label: str = ""
) -> str:
    """`label`: the metric's name as users read it (the suite's primary metric)."""
    if difference is None:
        return "No reference answers: compare the responses and latency side by side."
    label = label or ("exact match" if difference.metric == "exact_match" else "token-F1")
    # A before B, in the order of the page's columns (it once read "B vs A" under an A | B table).
    ci = (
        f"{label} A {difference.mean_a:.2f} vs B {difference.mean_b:.2f}, "
        f"95% CI of B−A [{difference.ci_low:+.2f}, {difference.ci_high:+.2f}]"
    )
    if difference.ci_low > 0:
        return f"B ({name_b}) is better on accuracy, CI excludes 0 ({ci})."
    if difference.ci_high < 0:
        return f"A ({name_a}) is better on accuracy, CI excludes 0 ({ci})."
    return f"No significant difference in accuracy ({ci})."
