"""Django admin for the dataset library (imported by datasets_app/admin.py)."""

from django.contrib import admin

from datasets_app.models import Dataset, DatasetValidation
from rmnconsole.admin import GuardedAdmin


@admin.register(Dataset)
class DatasetAdmin(GuardedAdmin):
    list_display = ("name", "version", "dataset_type", "format", "num_examples", "size_bytes", "quality_score", "band",
                    "status", "created_by", "created_at")  # fmt: skip
    list_filter = ("dataset_type", "format", "band", "status")
    search_fields = ("name", "path", "sha256")
    readonly_fields = ("report", "sha256", "size_bytes", "num_examples", "quality_score", "band", "validated_at",
                       "progress_pct", "created_at")  # fmt: skip


@admin.register(DatasetValidation)
class DatasetValidationAdmin(admin.ModelAdmin):
    """Read-only: a validation is a job record; the console creates and ends them."""

    list_display = (
        "id",
        "dataset",
        "status",
        "progress_pct",
        "quality_score",
        "worker",
        "created_at",
        "finished_at",
    )
    list_filter = ("status",)
    search_fields = ("dataset__name", "rq_job_id", "worker")

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
