"""The promotion rule, on plain numbers: a candidate replaces production only when it is better by the pipeline's
margin AND the paired bootstrap 95% interval of (candidate − production) lies above zero."""

from __future__ import annotations

from dataclasses import dataclass

from federation.engine.abstats import paired_bootstrap

PROMOTE, HOLD, REJECT = "promote", "hold", "reject"


@dataclass(frozen=True)
class Decision:
    action: str
    reason: str
    comparison: dict


def decide(
    candidate: list[float], production: list[float] | None, *, margin: float, on_worse: str, metric: str
) -> Decision:
    """`candidate` and `production` are per-case primary scores on the same suite, case for case."""
    mean_c = sum(candidate) / len(candidate) if candidate else 0.0
    if production is None:
        return Decision(
            PROMOTE,
            f"No production target yet: the candidate ({metric} {mean_c:.3f}) is deployed.",
            {"metric": metric, "candidate": mean_c, "production": None, "cases": len(candidate)},
        )
    diff = paired_bootstrap(production, candidate, metric=metric, seed=0)
    comparison = {
        "metric": metric,
        "candidate": diff.mean_b,
        "production": diff.mean_a,
        "diff": diff.diff,
        "ci_low": diff.ci_low,
        "ci_high": diff.ci_high,
        "margin": margin,
        "cases": len(candidate),
    }
    figures = (
        f"{metric} candidate {diff.mean_b:.3f} vs production {diff.mean_a:.3f}, Δ {diff.diff:+.3f}, "
        f"95% CI [{diff.ci_low:+.3f}, {diff.ci_high:+.3f}], margin {margin:g}"
    )
    if diff.diff >= margin and diff.ci_low > 0:
        return Decision(PROMOTE, f"Better: {figures}.", comparison)
    return Decision(
        on_worse, f"Not better by the margin with the interval above zero: {figures}.", comparison
    )
