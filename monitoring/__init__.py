"""Monitoring: GPU/host sampling, time series, alerts, dashboards and Prometheus /metrics."""
