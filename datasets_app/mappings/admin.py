"""Django admin for data sources and schema mappings (imported by datasets_app/admin.py)."""

from django.contrib import admin

from datasets_app.models import DataSource, SchemaMapping
from rmnconsole.admin import GuardedAdmin


@admin.register(DataSource)
class DataSourceAdmin(GuardedAdmin):
    list_display = (
        "name",
        "kind",
        "file_format",
        "retailer",
        "row_count",
        "size_bytes",
        "is_demo",
        "updated_at",
    )
    list_filter = ("kind", "file_format", "is_demo")
    search_fields = ("name", "retailer", "path", "description")
    readonly_fields = ("columns", "row_count", "size_bytes", "file_mtime", "created_at", "updated_at")


@admin.register(SchemaMapping)
class SchemaMappingAdmin(GuardedAdmin):
    list_display = ("name", "retailer", "source", "target_schema", "target_version", "version", "status",
                    "coverage_pct", "validation_status", "updated_at")  # fmt: skip
    list_filter = ("status", "validation_status", "target_schema", "retailer")
    search_fields = ("name", "retailer", "notes")
    raw_id_fields = ("parent",)
    readonly_fields = ("validation", "validated_at", "coverage_pct", "required_coverage_pct", "created_at", "updated_at",
                       "activated_at")  # fmt: skip

    def get_readonly_fields(self, request, obj=None):
        # Active and Deprecated versions are immutable: their rules and target cannot be edited here either.
        fields = list(super().get_readonly_fields(request, obj))
        if obj is not None and obj.status != SchemaMapping.Status.DRAFT:
            fields += ["rules", "target_schema", "target_version", "source", "retailer", "version", "status"]
        return fields
