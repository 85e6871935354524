"""Monitoring's live events: every host sample and every alert change go to the dashboard's watchers."""

from __future__ import annotations

from rmnconsole.core import live

DASHBOARD = "monitoring.dashboard"  # one topic, watched as pk 0: the dashboard shows every host
GROUP = live.group_name(DASHBOARD, 0)


def can_view_dashboard(user, pk: int) -> bool:
    """The monitoring page's rule: any signed-in user (the consumer checked that), one dashboard."""
    return pk == 0


def sample_recorded(host: str, latest: dict) -> None:
    live.publish_on_commit(GROUP, {"kind": "sample", "host": host, "latest": latest})


def alerts_changed(opened: list, resolved: list) -> None:
    if opened or resolved:
        event = {
            "kind": "alerts",
            "opened": [
                {"id": a.pk, "rule": a.rule, "severity": a.severity, "message": a.message} for a in opened
            ],
            "resolved": [a.pk for a in resolved],
        }
        live.publish_on_commit(GROUP, event)
