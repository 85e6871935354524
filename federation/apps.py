from django.apps import AppConfig


class FederationConfig(AppConfig):
    name = "federation"
    verbose_name = "Federation"

    def ready(self) -> None:
        # Serving's models live in federation/serving/ and belong to this app (federation.models importing them
        # would make the two sibling modules import each other).
        import federation.serving.models  # noqa: F401
        from federation.evaluation import automatic, sweep_objectives
        from federation.evaluation.models import EvalRun
        from federation.evaluation.recovery import job_kinds as eval_job_kinds
        from federation.models import ABTest, GateTraining, InferenceRun
        from federation.pipelines import lineage as pipeline_lineage
        from federation.pipelines.models import PipelineRun, PipelineStep
        from federation.pipelines.recovery import job_kinds as pipeline_job_kinds
        from federation.recovery import job_kinds
        from rmnconsole.core import live, recovery
        from training.signals import training_completed

        recovery.register(*job_kinds(), *eval_job_kinds(), *pipeline_job_kinds())
        automatic.register_adapter_figures()
        # One receiver: a pipeline's training job moves its pipeline on (which evaluates it on the pipeline's suite);
        # any other job gets the automatic evaluation.
        training_completed.connect(
            pipeline_lineage.on_training_completed, dispatch_uid="evaluation-after-training"
        )
        pipeline_lineage.register()
        sweep_objectives.register()  # sweeps can optimise an eval-suite score and latency

        # Live updates: these pages show any of their rows to every signed-in user.
        for model in (InferenceRun, ABTest, GateTraining, EvalRun, PipelineRun, PipelineStep):
            live.register_topic(model)
