"""Monitoring in the Python facade (rmnconsole.console): the same reads and verbs as the dashboard and API."""

from __future__ import annotations

from monitoring import queries, services
from monitoring.models import Alert


def get_system_summary() -> dict:
    """GPU utilization and memory, throughput, jobs, queue depths, workers and open alerts (the dashboard's cards)."""
    return queries.summary()


def get_system_samples(host: str | None = None, gpu: int | None = None, since: str = "1h") -> dict:
    """GPU and host time series; `since` is a duration (1h, 24h, 7d) or an ISO 8601 time."""
    return queries.series(host=host, gpu=gpu, since=since)


def list_alerts(state: str = "active") -> list[dict]:
    """Alerts as dicts; state is 'active', 'resolved' or 'all'."""
    qs = Alert.objects.all()
    if state == "active":
        qs = qs.active()
    elif state == "resolved":
        qs = qs.filter(resolved_at__isnull=False)
    elif state != "all":
        raise ValueError("state must be 'active', 'resolved' or 'all'")
    fields = (
        "id",
        "rule",
        "key",
        "severity",
        "message",
        "first_seen",
        "last_seen",
        "resolved_at",
        "acknowledged_at",
    )
    return list(qs.order_by("-last_seen").values(*fields))


def acknowledge_alert(alert_id: int, user=None) -> dict:
    alert = services.acknowledge_alert(alert_id, user)
    return {"id": alert.pk, "acknowledged_at": alert.acknowledged_at}
