"""Template filters for job pages: a one-line diagnosis a person can act on, read from a failure's traceback."""

from __future__ import annotations

import re

from django import template

register = template.Library()

# An absolute server path in a message tells the user nothing and tells an outsider where things live.
_ABS_PATH = re.compile(r"(?<![\w.])/(?:[\w.@+-]+/)+([\w.@+-]+)")


@register.filter
def diagnosis(reason: str | None) -> str:
    """The exception line of a traceback (else the first line), without server paths, at most 300 characters."""
    text = (reason or "").strip()
    if not text:
        return ""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if "Traceback (most recent call last)" in text:
        exception = [line for line in lines if re.match(r"^[\w.]+(Error|Exception|Exit|Interrupt)\b", line)]
        line = exception[-1] if exception else lines[-1]
    else:
        line = lines[0]
    line = _ABS_PATH.sub(r"\1", line)
    return line if len(line) <= 300 else line[:299] + "…"


@register.filter
def has_details(reason: str | None) -> bool:
    """Whether the reason holds more than its diagnosis (a traceback or several lines)."""
    return bool(reason) and (reason.strip() != diagnosis(reason))


@register.filter
def ago(moment) -> str:
    """'just now' / '42 s ago' / '3 minutes ago': never '0 minutes ago'."""
    from django.utils import timezone
    from django.utils.timesince import timesince

    if not moment:
        return "—"
    seconds = (timezone.now() - moment).total_seconds()
    if seconds < 5:
        return "just now"
    if seconds < 60:
        return f"{int(seconds)} s ago"
    return f"{timesince(moment)} ago"
