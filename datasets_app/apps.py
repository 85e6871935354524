from django.apps import AppConfig


class DatasetsAppConfig(AppConfig):
    name = "datasets_app"
    verbose_name = "Datasets & Mappings"

    def ready(self) -> None:
        from datasets_app.library.recovery import job_kinds
        from rmnconsole.core import recovery

        recovery.register(*job_kinds())
