from django.apps import AppConfig


class MonitoringConfig(AppConfig):
    name = "monitoring"
    verbose_name = "Monitoring"

    def ready(self) -> None:
        from monitoring.live import DASHBOARD, can_view_dashboard
        from rmnconsole.core import live

        live.register_topic(DASHBOARD, can_view_dashboard)
