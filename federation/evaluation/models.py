"""Evaluation rows: versioned eval suites and their cases, eval runs (queued jobs) and their per-case results."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from rmnconsole.core.jobs import QueuedJob


class EvalSuite(models.Model):
    """A named, versioned set of cases with the metrics that score them; immutable once a run has used it."""

    class Source(models.TextChoices):
        DATASET = "dataset", "Dataset validation split"
        JSONL = "jsonl", "Uploaded JSONL"
        MAPPING = "mapping", "Mapping held-out records"
        TRAINING = "training", "A training job's validation split"
        ABTEST = "abtest", "An A/B test's prompts"

    name = models.CharField(max_length=100)
    version = models.PositiveIntegerField(default=1)
    description = models.TextField(blank=True)
    source = models.CharField(max_length=20, choices=Source.choices)
    source_note = models.CharField(max_length=500, blank=True, help_text="Where the cases came from.")
    metrics = models.JSONField(
        default=list, help_text='[{"name": "exact_match"}, …]; the first is the primary.'
    )
    dataset = models.ForeignKey(
        "datasets_app.Dataset", null=True, blank=True, on_delete=models.SET_NULL, related_name="eval_suites"
    )
    mapping = models.ForeignKey(
        "datasets_app.SchemaMapping",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="eval_suites",
    )
    max_new_tokens = models.PositiveIntegerField(default=64)
    locked_at = models.DateTimeField(
        null=True, blank=True, help_text="Set by the first run: no edits after it."
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="eval_suites"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name", "-version"]
        constraints = [models.UniqueConstraint(fields=["name", "version"], name="eval_suite_unique_version")]

    def __str__(self) -> str:
        return self.label

    @property
    def label(self) -> str:
        return f"{self.name} v{self.version}"

    @property
    def primary_metric(self) -> str:
        return self.metrics[0]["name"] if self.metrics else ""


class EvalCase(models.Model):
    suite = models.ForeignKey(EvalSuite, on_delete=models.CASCADE, related_name="cases")
    index = models.PositiveIntegerField()
    prompt = models.TextField()
    # None (no reference) differs from "" (the expected answer is empty): metrics needing one refuse None.
    reference = models.TextField(null=True, blank=True)  # noqa: DJ001
    checks = models.JSONField(default=dict, blank=True, help_text="Per-case needles / pattern / tolerance.")

    class Meta:
        ordering = ["suite", "index"]
        constraints = [models.UniqueConstraint(fields=["suite", "index"], name="eval_case_unique_index")]

    def __str__(self) -> str:
        return f"{self.suite.label} #{self.index}"


class EvalRun(QueuedJob):
    """One subject (base model, adapter or federation) on one suite, generated greedily in batches."""

    task_path = "federation.evaluation.tasks.run_eval"
    default_queue = "inference"
    rq_job_prefix = "eval"

    class Subject(models.TextChoices):
        BASE = "base", "Base model"
        ADAPTER = "adapter", "Adapter"
        FEDERATION = "federation", "Federation"

    suite = models.ForeignKey(EvalSuite, on_delete=models.PROTECT, related_name="runs")
    subject_kind = models.CharField(max_length=20, choices=Subject.choices)
    base_model = models.ForeignKey(
        "training.FoundationModel",
        on_delete=models.CASCADE,
        related_name="eval_runs",
        help_text="The base model, or the adapter's / federation's.",
    )
    adapter = models.ForeignKey(
        "training.Adapter", null=True, blank=True, on_delete=models.CASCADE, related_name="eval_runs"
    )
    federation = models.ForeignKey(
        "federation.Federation", null=True, blank=True, on_delete=models.CASCADE, related_name="eval_runs"
    )
    federation_version = models.PositiveIntegerField(null=True, blank=True)
    training_job = models.ForeignKey(
        "training.TrainingJob", null=True, blank=True, on_delete=models.SET_NULL, related_name="eval_runs"
    )
    seed = models.IntegerField(default=0)
    max_new_tokens = models.PositiveIntegerField(default=64)
    batch_size = models.PositiveIntegerField(default=8)
    progress_done = models.IntegerField(default=0)
    progress_total = models.IntegerField(default=0)
    score = models.FloatField(null=True, blank=True, help_text="The suite's primary metric, mean over cases.")
    summary = models.JSONField(default=dict, blank=True)
    latency_p50_ms = models.FloatField(null=True, blank=True)
    latency_p95_ms = models.FloatField(null=True, blank=True)
    tokens_per_second = models.FloatField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["suite", "status"])]

    def __str__(self) -> str:
        return f"eval {self.pk}: {self.subject_label} on {self.suite.label}"

    @property
    def subject_label(self) -> str:
        if self.subject_kind == self.Subject.ADAPTER and self.adapter_id:
            return f"adapter {self.adapter.label}"
        if self.subject_kind == self.Subject.FEDERATION and self.federation_id:
            return f"federation {self.federation.name} v{self.federation_version}"
        return f"base {self.base_model.name}"

    @property
    def progress_pct(self) -> float:
        return 100.0 * self.progress_done / self.progress_total if self.progress_total else 0.0

    @property
    def error(self) -> str:
        return self.status_reason


class EvalCaseResult(models.Model):
    """One case's output in one run, its latency and its scores; written with the run's summary, all at once."""

    run = models.ForeignKey(EvalRun, on_delete=models.CASCADE, related_name="results")
    case = models.ForeignKey(EvalCase, on_delete=models.CASCADE, related_name="results")
    output = models.TextField(blank=True)
    generated_tokens = models.IntegerField(default=0)
    latency_ms = models.FloatField(default=0.0)
    finished = models.BooleanField(default=True, help_text="False: it hit max_new_tokens without ending.")
    scores = models.JSONField(default=dict, blank=True)
    fields = models.JSONField(default=dict, blank=True, help_text="Field accuracy per RMIS field.")
    judge = models.JSONField(default=dict, blank=True, help_text="The judge's answer and parsed score.")
    errors = models.JSONField(default=list, blank=True)

    class Meta:
        ordering = ["run", "case__index"]
        constraints = [models.UniqueConstraint(fields=["run", "case"], name="eval_result_unique_case")]

    def __str__(self) -> str:
        return f"run {self.run_id} case {self.case_id}"
