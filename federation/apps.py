from django.apps import AppConfig


class FederationConfig(AppConfig):
    name = "federation"
    verbose_name = "Federation"

    def ready(self) -> None:
        # Serving's models live in federation/serving/ and belong to this app (federation.models importing them
        # would make the two sibling modules import each other).
        import federation.serving.models  # noqa: F401
        from federation.recovery import job_kinds
        from rmnconsole.core import recovery

        recovery.register(*job_kinds())
