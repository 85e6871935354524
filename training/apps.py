from django.apps import AppConfig


class TrainingConfig(AppConfig):
    name = "training"
    verbose_name = "Training"

    def ready(self) -> None:
        from rmnconsole.core import recovery
        from training.recovery import job_kinds

        recovery.register(*job_kinds())
