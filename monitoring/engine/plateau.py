"""Loss-plateau detection: did the last N logged losses improve on the best loss before them?"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class PlateauResult:
    plateaued: bool
    window: int
    best_before: float | None = None
    best_recent: float | None = None
    improvement: float | None = None  # relative: (best_before - best_recent) / |best_before|

    def describe(self) -> str:
        if self.best_before is None or self.improvement is None:
            return f"fewer than {self.window + 1} logged losses"
        return (
            f"best loss over the last {self.window} logged steps {self.best_recent:.4g} vs {self.best_before:.4g} "
            f"before ({self.improvement:+.2%} improvement)"
        )


def detect_plateau(losses: Iterable[float | None], window: int, tolerance: float) -> PlateauResult:
    """Plateau when min(last `window` losses) beats min(all earlier losses) by less than `tolerance` (relative).

    Comparing minima (not last values) keeps noisy but still-falling curves from firing; None/NaN are skipped.
    """
    if window < 1:
        raise ValueError("window must be at least 1")
    if tolerance < 0:
        raise ValueError("tolerance must not be negative")
    values = [float(v) for v in losses if v is not None and math.isfinite(float(v))]
    if len(values) < window + 1:
        return PlateauResult(plateaued=False, window=window)
    before, recent = values[:-window], values[-window:]
    best_before, best_recent = min(before), min(recent)
    improvement = (best_before - best_recent) / max(abs(best_before), 1e-12)
    return PlateauResult(
        plateaued=improvement < tolerance,
        window=window,
        best_before=best_before,
        best_recent=best_recent,
        improvement=improvement,
    )
