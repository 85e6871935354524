"""RQ entry points for monitoring housekeeping (the monitor_host process does the same on its own clock)."""

from __future__ import annotations

from monitoring import alerts, services


def evaluate_alerts() -> dict:
    result = alerts.evaluate_alerts()
    return {
        "opened": len(result.opened),
        "refreshed": len(result.refreshed),
        "resolved": len(result.resolved),
    }


def rollup_and_prune(host: str | None = None) -> dict:
    return services.rollup_and_prune(host=host)
