"""`{% live_refresh topic pk "every 2s" %}`: how a self-refreshing partial refreshes — on live events, or by polling."""

from __future__ import annotations

from django import template
from django.conf import settings
from django.utils.html import format_html

register = template.Library()


@register.simple_tag
def live_refresh(topic: str, pk, poll, also: str = "", throttle: float = 0) -> str:
    """The element's hx-trigger (plus its live subscription): with live updates on, it refreshes when an event for
    the object arrives (static/js/live.js; polling `poll` only while the socket is down); off, it polls as before.
    `poll` is "every 2s" or a number of seconds; `also` adds triggers either way ("rmn:alerts-changed from:body");
    `throttle` (seconds) coalesces refreshes of a busy topic (monitoring samples of many hosts) to one per period.
    The element needs an id (the script finds it again after a swap)."""
    if not isinstance(poll, str):
        poll = f"every {poll}s"
    extra = f", {also}" if also else ""
    if not getattr(settings, "RMN_LIVE_UPDATES", True):
        return format_html(' hx-trigger="{}{}"', poll, extra)
    return format_html(
        ' hx-trigger="rmn:live{}" data-live-refresh data-live-topic="{}" data-live-pk="{}" data-live-poll="{}"'
        ' data-live-throttle-ms="{}"',
        extra,
        topic,
        pk,
        poll,
        int(float(throttle) * 1000),
    )
