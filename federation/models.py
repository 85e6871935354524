"""Federation models: compositions of adapters, their gate trainings, test-prompt runs and A/B comparisons."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from rmnconsole.core.jobs import JobStatus, QueuedJob  # noqa: F401 - JobStatus: federation code names it here
from training.models import Adapter, AdapterType, FoundationModel


class Method(models.TextChoices):
    ADDITIVE = "additive", "Additive — sum adapter weights"
    GATED = "gated", "Gated — learned routing between adapters"
    SEQUENTIAL = "sequential", "Sequential — chain adapters in sequence"


# A member's role in a federation is the kind of adapter it is: one list of kinds, owned by training.
Role = AdapterType


class ErrorAliasMixin:
    """`error`: the API's and the pages' name for the base's `status_reason` (why a run failed)."""

    @property
    def error(self) -> str:
        return self.status_reason

    @error.setter
    def error(self, value: str) -> None:
        self.status_reason = value


class Federation(models.Model):
    """A base model plus an ordered list of adapters, composed by one method."""

    Method = Method

    class Status(models.TextChoices):
        DRAFT = "draft", "Draft"
        READY = "ready", "Ready"
        FAILED = "failed", "Failed"

    name = models.CharField(max_length=120, unique=True)
    base_model = models.ForeignKey(FoundationModel, on_delete=models.PROTECT, related_name="federations")
    method = models.CharField(max_length=20, choices=Method.choices)
    options = models.JSONField(
        default=dict,
        blank=True,
        help_text="additive: combination, merged, density, svd_rank; gated: gate settings.",
    )
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.DRAFT, db_index=True)
    status_reason = models.TextField(blank=True)
    version = models.PositiveIntegerField(
        default=1, help_text="Bumped whenever what the model computes changes."
    )
    fidelity = models.JSONField(
        default=dict, blank=True, help_text="Merge-fidelity error per layer (additive)."
    )
    gate_path = models.CharField(
        max_length=500, blank=True, help_text="X-LoRA classifier, relative to the data root."
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="federations"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.name} v{self.version}"

    @property
    def is_ready(self) -> bool:
        return self.status == self.Status.READY

    @property
    def cache_key(self) -> tuple[int, int]:
        return (self.pk, self.version)

    def ordered_members(self):
        return self.members.select_related("adapter", "adapter__base_model").order_by("position")


class FederationMember(models.Model):
    """One adapter in a federation, at a position, with its weight and role."""

    Role = Role

    federation = models.ForeignKey(Federation, on_delete=models.CASCADE, related_name="members")
    position = models.PositiveIntegerField()
    adapter = models.ForeignKey(Adapter, on_delete=models.PROTECT, related_name="federation_memberships")
    weight = models.FloatField(default=1.0)
    role = models.CharField(max_length=20, choices=Role.choices)
    prompt_template = models.TextField(
        blank=True,
        help_text="Sequential only: {input} = the original prompt, {previous} = the previous stage's output.",
    )

    class Meta:
        ordering = ["federation", "position"]
        constraints = [
            models.UniqueConstraint(
                fields=["federation", "position"], name="federation_member_unique_position"
            )
        ]

    def __str__(self) -> str:
        return f"{self.federation.name}[{self.position}] {self.adapter.label} × {self.weight:g}"


class GateTraining(QueuedJob):
    """A background job that trains a gated federation's X-LoRA classifier (only the classifier)."""

    task_path = "federation.tasks.train_gate"
    default_queue = "training"
    rq_job_prefix = "gate-training"

    federation = models.ForeignKey(Federation, on_delete=models.CASCADE, related_name="gate_trainings")
    federation_version = models.PositiveIntegerField()
    dataset_paths = models.JSONField(default=list, blank=True, help_text="Relative to the data root.")
    num_examples = models.IntegerField(default=0)
    total_steps = models.IntegerField(default=0)
    current_step = models.IntegerField(default=0)
    progress_pct = models.FloatField(default=0.0)
    learning_rate = models.FloatField(default=1e-3)
    first_loss = models.FloatField(null=True, blank=True)
    loss = models.FloatField(null=True, blank=True)
    device = models.CharField(max_length=200, blank=True)
    log = models.TextField(blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"gate training {self.pk} for {self.federation.name}"


class GenerationSettings(models.Model):
    """Abstract: how a prompt is generated; a test prompt and an A/B test take the same three settings."""

    max_new_tokens = models.PositiveIntegerField(default=64)
    temperature = models.FloatField(default=0.0)
    seed = models.IntegerField(default=0)

    class Meta:
        abstract = True


class InferenceRun(ErrorAliasMixin, GenerationSettings, QueuedJob):
    """One test prompt on a federation, executed by the inference worker."""

    task_path = "federation.tasks.run_inference"
    default_queue = "inference"
    rq_job_prefix = "inference"

    federation = models.ForeignKey(Federation, on_delete=models.CASCADE, related_name="runs")
    federation_version = models.PositiveIntegerField(default=1)
    prompt = models.TextField()
    response = models.TextField(blank=True)
    prompt_tokens = models.IntegerField(null=True, blank=True)
    generated_tokens = models.IntegerField(null=True, blank=True)
    latency_ms = models.FloatField(null=True, blank=True)
    ttft_ms = models.FloatField(null=True, blank=True)
    tokens_per_second = models.FloatField(null=True, blank=True)
    adapters_used = models.JSONField(default=list, blank=True, help_text="[{adapter, role, weight | share}]")
    stages = models.JSONField(
        default=list, blank=True, help_text="Sequential: every stage's output and latency."
    )
    cache_hit = models.BooleanField(
        null=True, blank=True, help_text="The composed model was already in the worker."
    )
    load_ms = models.FloatField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["federation", "status"])]

    def __str__(self) -> str:
        return f"run {self.pk} on {self.federation.name}"


class ABTest(ErrorAliasMixin, GenerationSettings, QueuedJob):
    """Two federations on one prompt set with the same seed and generation parameters."""

    task_path = "federation.tasks.run_abtest"
    default_queue = "inference"
    rq_job_prefix = "abtest"

    name = models.CharField(max_length=200)
    federation_a = models.ForeignKey(Federation, on_delete=models.CASCADE, related_name="abtests_as_a")
    federation_b = models.ForeignKey(Federation, on_delete=models.CASCADE, related_name="abtests_as_b")
    suite = models.ForeignKey(
        "federation.EvalSuite",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="abtests",
        help_text="The prompt set: a chosen suite, or the one made from the typed prompts / dataset.",
    )
    run_a = models.ForeignKey(
        "federation.EvalRun", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    run_b = models.ForeignKey(
        "federation.EvalRun", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    prompt_source = models.CharField(max_length=20, default="typed", help_text="typed | dataset | suite")
    dataset_path = models.CharField(max_length=500, blank=True, help_text="Relative to the data root.")
    prompts = models.JSONField(default=list, help_text="[{prompt, reference}]")
    progress_done = models.IntegerField(default=0)
    results = models.JSONField(
        default=dict, blank=True, help_text="rows, per-side summary, paired differences."
    )
    verdict = models.TextField(blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.name

    @property
    def progress_total(self) -> int:
        return 2 * len(self.prompts)

    @property
    def progress_pct(self) -> float:
        return 100.0 * self.progress_done / self.progress_total if self.progress_total else 0.0

    @property
    def has_references(self) -> bool:
        return any(p.get("reference") for p in self.prompts)


# Evaluation's rows live in federation.evaluation; importing them here registers them with the federation app.
from federation.evaluation.models import EvalCase, EvalCaseResult, EvalRun, EvalSuite  # noqa: E402,F401
