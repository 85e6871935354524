"""Training models: the base-model registry, training jobs with their metrics, and the adapter registry."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone

from rmnconsole.core.jobs import FINISHED_STATUSES, JobStatus, QueuedJob
from rmnconsole.core.rows import NamedVersionMixin
from training.federated.models import FederatedTrainingJob, Silo, SiloRound  # noqa: F401 - registers them
from training.model_import.models import ModelImport, SourceKind  # noqa: F401 - registers the import job model
from training.sweeps.models import Sweep  # noqa: F401 - registers the sweep model

# A sweep trial the pruner stopped early: a terminal status of training jobs only (its checkpoint is kept).
PRUNED = "pruned"
TRAINING_STATUS_CHOICES = [*JobStatus.choices, (PRUNED, "Pruned")]


class FoundationModel(models.Model):
    """A base model adapters are trained on: a Hugging Face id (from the local cache) or a local folder.

    Named FoundationModel in code so it does not read as an abstract base (or pydantic's BaseModel); the product,
    the API and the table still call it a base model."""

    class Family(models.TextChoices):
        LLAMA = "llama", "Llama"
        MISTRAL = "mistral", "Mistral"

    name = models.CharField(max_length=200, unique=True)
    source = models.CharField(max_length=500, help_text="Hugging Face id or a path under the data root.")
    family = models.CharField(max_length=20, choices=Family.choices)
    parameter_count = models.BigIntegerField(default=0)
    dtype = models.CharField(max_length=20, default="bfloat16")
    local_path = models.CharField(
        max_length=500, blank=True, help_text="Resolved folder with config + safetensors."
    )
    is_tiny = models.BooleanField(default=False, help_text="Built locally for tests and the demo.")
    is_available = models.BooleanField(default=False)
    availability_note = models.CharField(max_length=300, blank=True)
    checked_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    # Provenance, filled by an import (training.model_import); blank for rows registered before imports existed.
    source_kind = models.CharField(max_length=20, choices=SourceKind.choices, blank=True)
    source_sha256 = models.CharField(max_length=64, blank=True)
    original_quantization = models.CharField(
        max_length=40, blank=True, help_text="The GGUF's quantization before dequantizing (e.g. Q4_1)."
    )
    architecture = models.CharField(max_length=100, blank=True, help_text="e.g. LlamaForCausalLM")
    chat_template_present = models.BooleanField(default=False)
    licence = models.TextField(blank=True, help_text="Licence text or identifier the source carries.")
    import_job = models.ForeignKey(
        "training.ModelImport", null=True, blank=True, on_delete=models.SET_NULL, related_name="base_models"
    )

    class Meta:
        ordering = ["is_tiny", "name"]
        db_table = "training_basemodel"
        verbose_name = "base model"

    def __str__(self) -> str:
        return self.name

    @property
    def parameters_human(self) -> str:
        count = self.parameter_count
        for unit, size in (("B", 1e9), ("M", 1e6), ("k", 1e3)):
            if count >= size:
                return f"{count / size:.1f}{unit}"
        return str(count)


class AdapterType(models.TextChoices):
    RETAILER = "retailer", "Retailer"
    TASK = "task", "Task"
    DOMAIN = "domain", "Domain"


class TrainingType(models.TextChoices):
    SFT = "sft", "SFT"
    DPO = "dpo", "DPO"
    QLORA = "qlora", "QLoRA"


class TrainingJob(QueuedJob):
    """One LoRA training run: its configuration, where it stands, and what it produced."""

    task_path = "training.tasks.run_training_job"
    default_queue = "training"
    rq_job_prefix = "training-job"

    AdapterType = AdapterType
    TrainingType = TrainingType
    PRUNED = PRUNED
    FINISHED = (*FINISHED_STATUSES, PRUNED)
    STATUSES = tuple(value for value, _label in TRAINING_STATUS_CHOICES)

    status = models.CharField(
        max_length=20, choices=TRAINING_STATUS_CHOICES, default=JobStatus.QUEUED, db_index=True
    )
    adapter_type = models.CharField(max_length=20, choices=AdapterType.choices)
    adapter_name = models.SlugField(max_length=100)
    base_model = models.ForeignKey(FoundationModel, on_delete=models.PROTECT, related_name="training_jobs")
    training_type = models.CharField(max_length=10, choices=TrainingType.choices)
    dataset = models.ForeignKey(
        "datasets_app.Dataset", null=True, blank=True, on_delete=models.SET_NULL, related_name="training_jobs"
    )
    dataset_path = models.CharField(max_length=500, blank=True, help_text="Relative to the data root.")
    dataset_sha256 = models.CharField(max_length=64, blank=True)
    config = models.JSONField(default=dict, blank=True, help_text="Every hyperparameter of the run.")
    device = models.CharField(max_length=200, blank=True)
    current_step = models.IntegerField(default=0)
    total_steps = models.IntegerField(default=0)
    epoch = models.FloatField(default=0.0)
    progress_pct = models.FloatField(default=0.0)
    eta_seconds = models.FloatField(null=True, blank=True)
    tokens_per_second = models.FloatField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="training_jobs",
    )
    log = models.TextField(blank=True)
    final_metrics = models.JSONField(default=dict, blank=True)
    resumed_from = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="resumed_by"
    )
    quality_override = models.BooleanField(default=False)
    cancel_requested = models.BooleanField(default=False)
    cancel_requested_at = models.DateTimeField(null=True, blank=True)
    # Relative to the data root; the newest checkpoint-N folder this job wrote (resume starts there).
    last_checkpoint = models.CharField(max_length=500, blank=True)
    # Scale-out: the capability queue the job was routed to, its memory estimate and the measured peak.
    queue_name = models.CharField(max_length=100, blank=True, default="training")
    memory_estimate = models.JSONField(default=dict, blank=True, help_text="GiB per part, from the estimate.")
    peak_memory_bytes = models.BigIntegerField(null=True, blank=True)
    # A sweep's trial: the sweep and Optuna's trial number (the study in Optuna's storage holds its params).
    sweep = models.ForeignKey(
        "training.Sweep", null=True, blank=True, on_delete=models.SET_NULL, related_name="trials"
    )
    sweep_trial = models.IntegerField(null=True, blank=True)
    init_adapter = models.ForeignKey(
        "training.Adapter",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="continued_by",
        help_text="Training continued from this adapter's weights (warm start) instead of a fresh LoRA.",
    )

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"#{self.pk} {self.adapter_name} ({self.training_type}, {self.status})"

    @property
    def worker_host(self) -> str:
        """The API's and older code's name for `worker` ("host:pid" of the work horse)."""
        return self.worker

    @worker_host.setter
    def worker_host(self, value: str) -> None:
        self.worker = value

    @property
    def can_resume(self) -> bool:
        return self.status in (self.Status.FAILED, self.Status.CANCELLED) and bool(self.last_checkpoint)

    def enqueue_options(self) -> dict:
        from rq import Callback

        return {
            "on_stopped": Callback("training.tasks.on_rq_job_stopped"),
            "on_failure": Callback("training.tasks.on_rq_job_failed"),
            "description": f"training job #{self.pk} {self.adapter_name}",
        }

    def enqueue(self):
        from training.routing import register_queues

        register_queues()  # django-rq learns the capability queue names before it is asked for one
        return super().enqueue()


class TrainingMetric(models.Model):
    """One logged point of a job's curves (train loss at logging steps, eval loss at eval steps)."""

    job = models.ForeignKey(TrainingJob, on_delete=models.CASCADE, related_name="metrics")
    step = models.IntegerField()
    epoch = models.FloatField(null=True, blank=True)
    loss = models.FloatField(null=True, blank=True)
    eval_loss = models.FloatField(null=True, blank=True)
    learning_rate = models.FloatField(null=True, blank=True)
    grad_norm = models.FloatField(null=True, blank=True)
    tokens_per_second = models.FloatField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["job", "step", "id"]
        indexes = [models.Index(fields=["job", "step"], name="training_metric_job_step")]

    def __str__(self) -> str:
        return f"job {self.job_id} step {self.step}"


class Adapter(NamedVersionMixin, models.Model):
    """A trained LoRA adapter in the registry: a PEFT folder under the data root's adapters/."""

    AdapterType = AdapterType

    adapter_type = models.CharField(max_length=20, choices=AdapterType.choices)
    name = models.SlugField(max_length=100)
    version = models.PositiveIntegerField()
    base_model = models.ForeignKey(FoundationModel, on_delete=models.PROTECT, related_name="adapters")
    rank = models.PositiveIntegerField()
    alpha = models.PositiveIntegerField()
    target_modules = models.JSONField(default=list, blank=True)
    path = models.CharField(max_length=500, help_text="Folder relative to the data root.")
    size_bytes = models.BigIntegerField(default=0)
    sha256 = models.CharField(max_length=64, blank=True, help_text="Of adapter_model.safetensors.")
    metrics = models.JSONField(default=dict, blank=True)
    source_job = models.ForeignKey(
        TrainingJob, null=True, blank=True, on_delete=models.SET_NULL, related_name="adapters"
    )
    training_dataset_path = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name", "-version"]
        constraints = [
            models.UniqueConstraint(fields=["name", "version"], name="adapter_unique_name_version")
        ]

    def __str__(self) -> str:
        return self.label

    @classmethod
    def next_version(cls, name: str) -> int:
        latest = cls.objects.filter(name=name).aggregate(v=models.Max("version"))["v"]
        return (latest or 0) + 1
