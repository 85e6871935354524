from django.apps import AppConfig


class TrainingConfig(AppConfig):
    name = "training"
    verbose_name = "Training"

    def ready(self) -> None:
        # Datasets code (an earlier app) reaches base-model tokenizers and active jobs through the core.
        from rmnconsole.core.providers import (
            TokenizerSource,
            register_dataset_users,
            register_tokenizer_source,
        )
        from training import providers

        register_tokenizer_source(
            TokenizerSource(
                available=providers.available_tokenizers,
                folder=providers.tokenizer_folder,
                load=providers.load_tokenizer,
            )
        )
        register_dataset_users(providers.active_jobs_reading)

        from rmnconsole.core import recovery
        from training.recovery import job_kinds

        recovery.register(*job_kinds())

        from rmnconsole.core import live
        from training.live import can_view_job
        from training.models import ModelImport, TrainingJob

        live.register_topic(TrainingJob, can_view_job)
        live.register_topic(ModelImport)  # its page (base models) shows every import to any signed-in user
        from training.federated.recovery import job_kind as federated_job_kind

        recovery.register(federated_job_kind())
