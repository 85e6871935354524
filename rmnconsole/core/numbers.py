"""Numbers read from logs, JSON and the database: a figure is a finite float or absent (never NaN or inf in a
chart, an API answer or a row)."""

from __future__ import annotations

import math


def finite_or_none(value: object) -> float | None:
    """`value` as a float, or None when it is missing, not a number, NaN or infinite."""
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None
