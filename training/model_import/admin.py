"""Django admin for base-model imports (imported by training/admin.py, which Django autodiscovers)."""

from django.contrib import admin

from rmnconsole.admin import GuardedAdmin
from training.model_import.models import ModelImport


@admin.register(ModelImport)
class ModelImportAdmin(GuardedAdmin):
    list_display = ("id", "name", "source_kind", "source", "dtype", "status", "progress_pct", "created_at")
    list_filter = ("status", "source_kind", "dtype")
    search_fields = ("name", "source")
    readonly_fields = ("result",)
