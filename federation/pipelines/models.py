"""Pipeline rows: the pipeline's settings, its runs (one at a time), each run's steps (queued jobs), the files its
watched folder has shown, and the lineage of every dataset version a run built."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

from rmnconsole.core.jobs import QueuedJob

STEP_KINDS = ("build", "validate", "train", "evaluate", "decide", "deploy")


class Pipeline(models.Model):
    """A named chain with its settings: where data comes from, what it trains, the suite that judges, where it serves."""

    class Source(models.TextChoices):
        FOLDER = "folder", "Watched folder + mapping"
        DATASET = "dataset", "Library dataset (latest version)"

    class OnWorse(models.TextChoices):
        HOLD = "hold", "Hold for approval"
        REJECT = "reject", "Reject"

    name = models.CharField(max_length=100, unique=True)
    description = models.TextField(blank=True)
    source_kind = models.CharField(max_length=20, choices=Source.choices)
    watch_path = models.CharField(max_length=500, blank=True, help_text="Folder relative to the data root.")
    mapping = models.ForeignKey(
        "datasets_app.SchemaMapping", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    examples_per_file = models.PositiveIntegerField(default=200)
    dataset_name = models.CharField(
        max_length=200, help_text="The dataset whose versions the pipeline builds (or follows)."
    )
    base_model = models.ForeignKey("training.FoundationModel", on_delete=models.PROTECT, related_name="+")
    adapter_name = models.SlugField(max_length=100)
    adapter_type = models.CharField(max_length=20, default="retailer")
    training_config = models.JSONField(default=dict, blank=True)
    continue_from_production = models.BooleanField(
        default=False,
        help_text="Train on from the adapter in production (same base) instead of from scratch.",
    )
    suite = models.ForeignKey("federation.EvalSuite", on_delete=models.PROTECT, related_name="pipelines")
    deployment = models.ForeignKey(
        "federation.Deployment", on_delete=models.PROTECT, related_name="pipelines"
    )
    stage = models.CharField(max_length=20, default="production")
    margin = models.FloatField(default=0.0, help_text="How much better (primary metric) a candidate must be.")
    on_worse = models.CharField(max_length=10, choices=OnWorse.choices, default=OnWorse.HOLD)
    schedule = models.CharField(max_length=100, blank=True, help_text="Cron expression (UTC); blank: none.")
    next_run_at = models.DateTimeField(null=True, blank=True)
    enabled = models.BooleanField(default=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        app_label = "federation"
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    @property
    def last_run(self) -> PipelineRun | None:
        return self.runs.order_by("-number").first()


class PipelineRun(models.Model):
    """One pass through the chain. `waiting`: queued behind the pipeline's running run; `held`: a person decides."""

    class Status(models.TextChoices):
        WAITING = "waiting", "Waiting"
        RUNNING = "running", "Running"
        HELD = "held", "Held for approval"
        COMPLETED = "completed", "Completed"
        FAILED = "failed", "Failed"
        CANCELLED = "cancelled", "Cancelled"

    class Trigger(models.TextChoices):
        MANUAL = "manual", "By hand"
        API = "api", "API"
        CLI = "cli", "Command line"
        WATCH = "watch", "New data"
        SCHEDULE = "schedule", "Schedule"

    ACTIVE = (Status.WAITING, Status.RUNNING)
    FINISHED = (Status.COMPLETED, Status.FAILED, Status.CANCELLED)

    pipeline = models.ForeignKey(Pipeline, on_delete=models.CASCADE, related_name="runs")
    number = models.PositiveIntegerField()
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.WAITING, db_index=True)
    status_reason = models.TextField(blank=True)
    trigger = models.CharField(max_length=20, choices=Trigger.choices)
    triggered_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    source_files = models.JSONField(
        default=list, blank=True, help_text="[{path, sha256, size}] it was built from."
    )
    dataset = models.ForeignKey(
        "datasets_app.Dataset", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    training_job = models.ForeignKey(
        "training.TrainingJob", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    candidate = models.ForeignKey(
        "training.Adapter", null=True, blank=True, on_delete=models.SET_NULL, related_name="pipeline_runs"
    )
    production_target = models.JSONField(
        default=dict, blank=True, help_text="{kind, id, label} when evaluated."
    )
    candidate_eval = models.ForeignKey(
        "federation.EvalRun", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    production_eval = models.ForeignKey(
        "federation.EvalRun", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    comparison = models.JSONField(default=dict, blank=True)
    decision = models.CharField(max_length=10, blank=True)  # promote | hold | reject
    decision_reason = models.TextField(blank=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    deployment_event = models.ForeignKey(
        "federation.DeploymentEvent", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        app_label = "federation"
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["pipeline", "number"], name="pipeline_run_unique_number"),
            # The database itself keeps "one run at a time, one queued behind it".
            models.UniqueConstraint(
                fields=["pipeline"], condition=Q(status="running"), name="pipeline_one_running_run"
            ),
            models.UniqueConstraint(
                fields=["pipeline"], condition=Q(status="waiting"), name="pipeline_one_waiting_run"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.pipeline.name} run {self.number}"

    @property
    def is_finished(self) -> bool:
        return self.status in self.FINISHED

    @property
    def steps_in_order(self) -> list[PipelineStep]:
        """The newest attempt of each step kind, in chain order."""
        latest: dict[str, PipelineStep] = {}
        for step in self.steps.order_by("attempt"):
            latest[step.kind] = step
        return [latest[k] for k in STEP_KINDS if k in latest]


class PipelineStep(QueuedJob):
    """One step of one run, a queued job on the default queue. Train and evaluate steps start their own jobs and
    then wait for them (`waiting_on`); the pipeline upkeep moves them on when those end."""

    task_path = "federation.pipelines.tasks.run_step"
    default_queue = "default"
    rq_job_prefix = "pipeline-step"

    run = models.ForeignKey(PipelineRun, on_delete=models.CASCADE, related_name="steps")
    kind = models.CharField(max_length=20, choices=[(k, k.title()) for k in STEP_KINDS])
    attempt = models.PositiveIntegerField(default=1)
    waiting_on = models.JSONField(default=dict, blank=True, help_text="The jobs it waits for: {kind: id}.")
    detail = models.JSONField(default=dict, blank=True)

    class Meta:
        app_label = "federation"
        ordering = ["run", "id"]
        constraints = [
            models.UniqueConstraint(fields=["run", "kind", "attempt"], name="pipeline_step_unique_attempt")
        ]

    def __str__(self) -> str:
        return f"{self.run} {self.kind} #{self.attempt}"

    def publish_status(self) -> None:
        """The run page watches the run: a step's change is news there too."""
        from rmnconsole.core import live

        super().publish_status()
        event = {"kind": "step", "step": self.kind, "status": self.status}
        live.publish_on_commit(live.group_for(PipelineRun, self.run_id), event)


class WatchedFile(models.Model):
    """A file the watched folder has shown: its content hash decides whether it is new data (same data never
    retrains), its size and mtime whether it is still being written."""

    pipeline = models.ForeignKey(Pipeline, on_delete=models.CASCADE, related_name="watched_files")
    path = models.CharField(max_length=500)
    sha256 = models.CharField(max_length=64)
    size = models.BigIntegerField()
    mtime = models.FloatField()
    run = models.ForeignKey(PipelineRun, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    seen_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        app_label = "federation"
        ordering = ["pipeline", "path"]
        constraints = [
            models.UniqueConstraint(fields=["pipeline", "sha256"], name="watched_file_unique_content")
        ]

    def __str__(self) -> str:
        return f"{self.pipeline.name}: {self.path}"


class DatasetLineage(models.Model):
    """Where one dataset version came from: source file hashes, mapping version, rows added/removed vs the previous."""

    dataset = models.OneToOneField("datasets_app.Dataset", on_delete=models.CASCADE, related_name="lineage")
    previous = models.ForeignKey(
        "datasets_app.Dataset", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    pipeline = models.ForeignKey(Pipeline, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    run = models.ForeignKey(PipelineRun, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    source_files = models.JSONField(default=list, blank=True)
    mapping = models.ForeignKey(
        "datasets_app.SchemaMapping", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    mapping_version = models.PositiveIntegerField(null=True, blank=True)
    rows = models.IntegerField(default=0)
    rows_added = models.IntegerField(default=0)
    rows_removed = models.IntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        app_label = "federation"

    def __str__(self) -> str:
        return f"lineage of dataset {self.dataset_id}"
