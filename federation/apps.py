from django.apps import AppConfig


class FederationConfig(AppConfig):
    name = "federation"
    verbose_name = "Federation"

    def ready(self) -> None:
        from federation.recovery import job_kinds
        from rmnconsole.core import recovery

        recovery.register(*job_kinds())

        # Live updates: the run, A/B and gate pages show any of these to every signed-in user.
        from federation.models import ABTest, GateTraining, InferenceRun
        from rmnconsole.core import live

        for model in (InferenceRun, ABTest, GateTraining):
            live.register_topic(model)
