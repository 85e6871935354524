"""Time ranges for the charts: parse `since`, pick the stored resolution and the bucket width."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

RAW, MINUTE, FIVE_MINUTES, HOUR = 0, 60, 300, 3600
RESOLUTIONS = (RAW, MINUTE, FIVE_MINUTES, HOUR)  # each rolled up from the one before it
FINER = {MINUTE: RAW, FIVE_MINUTES: MINUTE, HOUR: FIVE_MINUTES}
RANGE_CHOICES = {"1h": 3600, "24h": 86400, "7d": 7 * 86400}
TARGET_POINTS = 240
MAX_SPAN = timedelta(days=400)
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$", re.IGNORECASE)


class RangeError(ValueError):
    """`since` is neither a duration like 24h nor an ISO 8601 time in the past."""


def parse_since(value: str | None, now: datetime, default: str = "1h") -> datetime:
    text = (value or default).strip()
    match = _DURATION.match(text)
    if match:
        seconds = float(match.group(1)) * _UNITS[match.group(2).lower()]
        if seconds <= 0:
            raise RangeError("since must be a positive duration such as 1h, 24h or 7d")
        if seconds > MAX_SPAN.total_seconds():
            raise RangeError("since reaches back more than 400 days")
        return now - timedelta(seconds=seconds)
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as exc:
        raise RangeError(f"since={text!r} is neither a duration (1h, 24h, 7d) nor an ISO 8601 time") from exc
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    if parsed >= now:
        raise RangeError("since must lie in the past")
    if now - parsed > MAX_SPAN:
        raise RangeError("since reaches back more than 400 days")
    return parsed


@dataclass(frozen=True)
class Plan:
    resolution: int  # which stored rows to read
    bucket_seconds: int  # width of one chart point


def plan_for(span_seconds: float, retention_seconds: Mapping[int, float]) -> Plan:
    """Coarsest stored resolution that still gives at least ~TARGET_POINTS/2 points and covers the whole span.

    Reading rollups instead of raw rows is what keeps a 7-day chart as cheap as a 1-hour one.
    """
    want = max(1.0, span_seconds / TARGET_POINTS)
    resolution = HOUR
    for level in RESOLUTIONS:
        coarser = [r for r in RESOLUTIONS if r > level]
        next_level = coarser[0] if coarser else None
        fits = span_seconds <= retention_seconds.get(level, float("inf"))
        if fits and (
            next_level is None
            or next_level > 2 * want
            or span_seconds > retention_seconds.get(next_level, float("inf"))
        ):
            resolution = level
            break
    if resolution == RAW:
        return Plan(RAW, max(1, int(want)))
    return Plan(resolution, max(resolution, int(want) // resolution * resolution))


def bucket_start(at: datetime, seconds: int) -> datetime:
    epoch = int(at.timestamp())
    return datetime.fromtimestamp(epoch - epoch % seconds, tz=UTC)
