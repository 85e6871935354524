from django.apps import AppConfig


class FederationConfig(AppConfig):
    name = "federation"
    verbose_name = "Federation"

    def ready(self) -> None:
        from federation.recovery import job_kinds
        from rmnconsole.core import recovery

        recovery.register(*job_kinds())
