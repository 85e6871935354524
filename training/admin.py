"""Django admin for the base-model registry, training jobs, their metrics and adapters."""

from django.contrib import admin

from rmnconsole.admin import GuardedAdmin
from training.federated import admin as federated_admin  # noqa: F401 - registers silos and federated jobs
from training.model_import import admin as model_import_admin  # noqa: F401 - registers ModelImport
from training.models import Adapter, FoundationModel, TrainingJob, TrainingMetric
from training.sweeps import admin as sweeps_admin  # noqa: F401 - registers Sweep


@admin.register(FoundationModel)
class BaseModelAdmin(GuardedAdmin):
    list_display = ("name", "family", "parameter_count", "dtype", "is_tiny", "is_available", "checked_at")
    list_filter = ("family", "is_tiny", "is_available", "dtype")
    search_fields = ("name", "source", "local_path")


@admin.register(TrainingJob)
class TrainingJobAdmin(GuardedAdmin):
    list_display = (
        "id",
        "adapter_name",
        "adapter_type",
        "training_type",
        "base_model",
        "status",
        "progress_pct",
        "device",
        "created_by",
        "created_at",
    )
    list_filter = ("status", "training_type", "adapter_type", "base_model", "device")
    search_fields = ("adapter_name", "dataset_path", "status_reason", "rq_job_id", "worker")
    readonly_fields = ("created_at", "started_at", "finished_at", "heartbeat_at")
    raw_id_fields = ("resumed_from", "created_by")
    date_hierarchy = "created_at"


@admin.register(TrainingMetric)
class TrainingMetricAdmin(GuardedAdmin):
    list_display = ("job", "step", "epoch", "loss", "eval_loss", "learning_rate", "tokens_per_second")
    list_filter = ("job__status", "job__training_type")
    search_fields = ("job__adapter_name",)
    raw_id_fields = ("job",)


@admin.register(Adapter)
class AdapterAdmin(GuardedAdmin):
    list_display = (
        "name",
        "version",
        "adapter_type",
        "base_model",
        "rank",
        "alpha",
        "size_bytes",
        "created_at",
    )
    list_filter = ("adapter_type", "base_model", "rank")
    search_fields = ("name", "path", "sha256", "training_dataset_path")
    raw_id_fields = ("source_job",)
