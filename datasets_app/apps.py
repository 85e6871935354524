from django.apps import AppConfig


class DatasetsAppConfig(AppConfig):
    name = "datasets_app"
    verbose_name = "Datasets & Mappings"

    def ready(self) -> None:
        from datasets_app.library.recovery import job_kinds
        from rmnconsole.core import recovery

        recovery.register(*job_kinds())

        # Live updates: the dataset pages (any signed-in user may open a dataset) watch the dataset's validation.
        from datasets_app.models import Dataset, DatasetValidation
        from rmnconsole.core import live

        live.register_topic(Dataset)
        live.register_topic(DatasetValidation)
