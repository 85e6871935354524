"""Pure engine functions: plateau detection on synthetic loss series, `since` parsing, resolution plans."""

from __future__ import annotations

import math
import random
from datetime import UTC, datetime, timedelta

import pytest

from monitoring.engine.plateau import detect_plateau
from monitoring.engine.ranges import (
    FIVE_MINUTES,
    HOUR,
    MINUTE,
    RAW,
    RangeError,
    bucket_start,
    parse_since,
    plan_for,
)

NOW = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


def synthetic_loss(
    steps: int, *, flat_after: int | None = None, noise: float = 0.02, seed: int = 0
) -> list[float]:
    """Exponential decay from 2.5 towards 0.3 with noise; optionally frozen (plus noise) after `flat_after`."""
    rng = random.Random(seed)
    out = []
    for step in range(steps):
        s = step if flat_after is None else min(step, flat_after)
        out.append(0.3 + 2.2 * math.exp(-s / 30) + rng.uniform(-noise, noise))
    return out


def test_decreasing_noisy_loss_is_not_a_plateau():
    result = detect_plateau(synthetic_loss(60), window=20, tolerance=0.01)
    assert result.plateaued is False
    assert result.improvement > 0.1


def test_flat_tail_is_a_plateau():
    losses = synthetic_loss(200, flat_after=120, noise=0.002)
    result = detect_plateau(losses, window=40, tolerance=0.01)
    assert result.plateaued is True
    assert abs(result.improvement) < 0.01
    assert "last 40 logged steps" in result.describe()
    # The same curve judged while it was still falling (step 100) is not a plateau.
    assert detect_plateau(losses[:100], window=40, tolerance=0.01).plateaued is False


def test_diverging_loss_counts_as_no_improvement():
    losses = [1.0, 0.8, 0.7, 0.75, 0.9, 1.2]
    result = detect_plateau(losses, window=3, tolerance=0.01)
    assert result.plateaued is True and result.improvement < 0


def test_too_few_points_and_missing_values():
    assert detect_plateau([1.0, 0.9], window=5, tolerance=0.01).plateaued is False
    # None and NaN are skipped, not treated as improvements.
    result = detect_plateau([1.0, None, float("nan"), 0.5, 0.5, 0.5], window=2, tolerance=0.01)
    assert result.best_before == 0.5 and result.plateaued is True
    with pytest.raises(ValueError):
        detect_plateau([1.0], window=0, tolerance=0.01)
    with pytest.raises(ValueError):
        detect_plateau([1.0], window=3, tolerance=-1)


def test_parse_since_durations_and_iso():
    assert parse_since("1h", NOW) == NOW - timedelta(hours=1)
    assert parse_since("7d", NOW) == NOW - timedelta(days=7)
    assert parse_since(" 90m ", NOW) == NOW - timedelta(minutes=90)
    assert parse_since(None, NOW) == NOW - timedelta(hours=1)
    assert parse_since("2025-03-01T11:00:00Z", NOW) == NOW - timedelta(hours=1)
    assert parse_since("2025-03-01T11:00:00", NOW).tzinfo is not None
    for bad in ("yesterday", "0h", "2025-03-02T00:00:00Z", "999d", "\x00"):
        with pytest.raises(RangeError):
            parse_since(bad, NOW)


def test_plans_stay_near_240_points_and_use_rollups():
    day = 86400
    keep = {RAW: day, MINUTE: 2 * day, FIVE_MINUTES: 14 * day, HOUR: 400 * day}
    assert plan_for(3600, keep) == (one_hour := plan_for(3600, keep))
    assert one_hour.resolution == RAW and one_hour.bucket_seconds == 15  # 240 points of raw rows
    four_hours = plan_for(4 * 3600, keep)
    assert four_hours.resolution == MINUTE and four_hours.bucket_seconds == 60
    one_day = plan_for(day, keep)
    assert (
        one_day.resolution == FIVE_MINUTES and one_day.bucket_seconds == 300
    )  # 288 rows per series, not 17,280
    one_week = plan_for(7 * day, keep)
    assert one_week.resolution == HOUR and one_week.bucket_seconds == 3600
    month = plan_for(30 * day, keep)
    assert month.resolution == HOUR and month.bucket_seconds == 10800
    # A span older than the raw window falls back to rollups even when short buckets were wanted.
    assert plan_for(3600, {**keep, RAW: 1800}).resolution == MINUTE
    assert bucket_start(datetime(2025, 3, 1, 12, 34, 56, tzinfo=UTC), 60) == datetime(
        2025, 3, 1, 12, 34, tzinfo=UTC
    )
