"""Federation models: compositions of adapters, their gate trainings, test-prompt runs and A/B comparisons."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone

from training.models import Adapter, FoundationModel


class Method(models.TextChoices):
    ADDITIVE = "additive", "Additive — sum adapter weights"
    GATED = "gated", "Gated — learned routing between adapters"
    SEQUENTIAL = "sequential", "Sequential — chain adapters in sequence"


class Role(models.TextChoices):
    RETAILER = "retailer", "Retailer"
    TASK = "task", "Task"
    DOMAIN = "domain", "Domain"


class JobStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    COMPLETED = "completed", "Completed"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"


ACTIVE_JOB_STATUSES = (JobStatus.QUEUED, JobStatus.RUNNING)


def _transition(instance: models.Model, from_statuses, to_status: str, **fields) -> bool:
    """Compare-and-set: change status only if it is still one of from_statuses; True when this call won."""
    if isinstance(from_statuses, str):
        from_statuses = (from_statuses,)
    changed = (
        type(instance)
        .objects.filter(pk=instance.pk, status__in=from_statuses)
        .update(status=to_status, **fields)
    )
    if changed:
        instance.status = to_status
        for key, value in fields.items():
            setattr(instance, key, value)
    return bool(changed)


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


class GateTraining(models.Model):
    """A background job that trains a gated federation's X-LoRA classifier (only the classifier)."""

    Status = JobStatus

    federation = models.ForeignKey(Federation, on_delete=models.CASCADE, related_name="gate_trainings")
    federation_version = models.PositiveIntegerField()
    status = models.CharField(
        max_length=20, choices=JobStatus.choices, default=JobStatus.QUEUED, db_index=True
    )
    status_reason = models.TextField(blank=True)
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
    rq_job_id = models.CharField(max_length=100, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"gate training {self.pk} for {self.federation.name}"

    @property
    def is_active(self) -> bool:
        return self.status in ACTIVE_JOB_STATUSES

    def transition(self, from_statuses, to_status: str, **fields) -> bool:
        return _transition(self, from_statuses, to_status, **fields)


class InferenceRun(models.Model):
    """One test prompt on a federation, executed by the inference worker."""

    Status = JobStatus

    federation = models.ForeignKey(Federation, on_delete=models.CASCADE, related_name="runs")
    federation_version = models.PositiveIntegerField(default=1)
    prompt = models.TextField()
    response = models.TextField(blank=True)
    max_new_tokens = models.PositiveIntegerField(default=64)
    temperature = models.FloatField(default=0.0)
    seed = models.IntegerField(default=0)
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
    worker = models.CharField(max_length=200, blank=True)
    status = models.CharField(
        max_length=20, choices=JobStatus.choices, default=JobStatus.QUEUED, db_index=True
    )
    error = models.TextField(blank=True)
    rq_job_id = models.CharField(max_length=100, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # Stamped while a worker generates: a run whose heartbeat goes stale lost its worker (rmnconsole.core.reconcile).
    heartbeat_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["federation", "status"])]

    def __str__(self) -> str:
        return f"run {self.pk} on {self.federation.name}"

    @property
    def is_finished(self) -> bool:
        return self.status not in ACTIVE_JOB_STATUSES

    def transition(self, from_statuses, to_status: str, **fields) -> bool:
        return _transition(self, from_statuses, to_status, **fields)

    def finish(self, status: str, **fields) -> bool:
        return self.transition(ACTIVE_JOB_STATUSES, status, finished_at=timezone.now(), **fields)


class ABTest(models.Model):
    """Two federations on one prompt set with the same seed and generation parameters."""

    Status = JobStatus

    name = models.CharField(max_length=200)
    federation_a = models.ForeignKey(Federation, on_delete=models.CASCADE, related_name="abtests_as_a")
    federation_b = models.ForeignKey(Federation, on_delete=models.CASCADE, related_name="abtests_as_b")
    prompt_source = models.CharField(max_length=20, default="typed", help_text="typed | dataset")
    dataset_path = models.CharField(max_length=500, blank=True, help_text="Relative to the data root.")
    prompts = models.JSONField(default=list, help_text="[{prompt, reference}]")
    max_new_tokens = models.PositiveIntegerField(default=64)
    temperature = models.FloatField(default=0.0)
    seed = models.IntegerField(default=0)
    status = models.CharField(
        max_length=20, choices=JobStatus.choices, default=JobStatus.QUEUED, db_index=True
    )
    progress_done = models.IntegerField(default=0)
    results = models.JSONField(
        default=dict, blank=True, help_text="rows, per-side summary, paired differences."
    )
    verdict = models.TextField(blank=True)
    error = models.TextField(blank=True)
    rq_job_id = models.CharField(max_length=100, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    worker = models.CharField(max_length=200, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)

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

    @property
    def is_finished(self) -> bool:
        return self.status not in ACTIVE_JOB_STATUSES

    def transition(self, from_statuses, to_status: str, **fields) -> bool:
        return _transition(self, from_statuses, to_status, **fields)
