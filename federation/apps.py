from django.apps import AppConfig


class FederationConfig(AppConfig):
    name = "federation"
    verbose_name = "Federation"

    def ready(self) -> None:
        from federation.evaluation import automatic
        from federation.evaluation.recovery import job_kinds as eval_job_kinds
        from federation.models import ABTest, GateTraining, InferenceRun
        from federation.recovery import job_kinds
        from rmnconsole.core import live, recovery
        from training.signals import training_completed

        recovery.register(*job_kinds(), *eval_job_kinds())
        training_completed.connect(automatic.on_training_completed, dispatch_uid="evaluation-after-training")
        automatic.register_adapter_figures()

        # Live updates: the run, A/B and gate pages show any of these to every signed-in user.
        for model in (InferenceRun, ABTest, GateTraining):
            live.register_topic(model)
