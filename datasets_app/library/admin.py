"""Django admin for the dataset library (imported by datasets_app/admin.py)."""

from django.contrib import admin

from datasets_app.models import Dataset
from rmnconsole.admin import GuardedAdmin


@admin.register(Dataset)
class DatasetAdmin(GuardedAdmin):
    list_display = ("name", "version", "dataset_type", "format", "num_examples", "size_bytes", "quality_score", "band",
                    "status", "created_by", "created_at")  # fmt: skip
    list_filter = ("dataset_type", "format", "band", "status")
    search_fields = ("name", "path", "sha256")
    readonly_fields = ("report", "sha256", "size_bytes", "num_examples", "quality_score", "band", "validated_at",
                       "rq_job_id", "progress_pct", "created_at")  # fmt: skip
