"""`{% active_alert_banners %}` (and `banner_alerts` for the console-wide context processor): open, unacknowledged alerts as console banners with an Acknowledge button."""

from __future__ import annotations

from django import template
from django.db.models import Case, IntegerField, Value, When

from monitoring.models import Alert

register = template.Library()

MAX_BANNERS = 5
_RANK = Case(
    When(severity=Alert.Severity.CRITICAL, then=Value(0)),
    When(severity=Alert.Severity.WARNING, then=Value(1)),
    default=Value(2),
    output_field=IntegerField(),
)


def banner_alerts(user, limit: int = MAX_BANNERS) -> dict:
    """The most urgent open alerts (critical first) and how many more there are; none for anonymous users."""
    if user is None or not user.is_authenticated:
        return {"alerts": [], "more": 0}
    qs = Alert.objects.unacknowledged()
    alerts = list(qs.annotate(rank=_RANK).order_by("rank", "-last_seen", "-id")[:limit])
    more = qs.count() - len(alerts) if len(alerts) == limit else 0
    return {"alerts": alerts, "more": more}


@register.inclusion_tag("monitoring/_alert_banners.html", takes_context=True)
def active_alert_banners(context, limit: int = MAX_BANNERS):
    request = context.get("request")
    found = banner_alerts(getattr(request, "user", None), limit)
    return {**found, "request": request, "csrf_token": context.get("csrf_token")}


@register.filter
def gib(megabytes) -> str:
    """MiB → GiB with one decimal ('—' when unknown)."""
    try:
        return f"{float(megabytes) / 1024:.1f}"
    except (TypeError, ValueError):
        return "—"
