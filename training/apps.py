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

        # Sweeps build on training: training's tasks announce a job's end and ask for eval hooks; sweeps listen.
        from training.signals import register_eval_hook, training_job_ended
        from training.sweeps import trials

        training_job_ended.connect(trials.on_job_ended, dispatch_uid="sweeps-trial-ended")
        register_eval_hook(trials.pruning_hook)

        from rmnconsole.core import live, recovery
        from training.federated.models import FederatedTrainingJob
        from training.federated.recovery import job_kind as federated_job_kind
        from training.live import can_view_job
        from training.models import ModelImport, TrainingJob
        from training.recovery import job_kinds
        from training.sweeps.models import Sweep

        recovery.register(*job_kinds(), federated_job_kind())

        live.register_topic(TrainingJob, can_view_job)
        # Their pages show every row to any signed-in user.
        for model in (ModelImport, Sweep, FederatedTrainingJob):
            live.register_topic(model)
