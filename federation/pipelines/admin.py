"""Admin: pipelines (settings editable, audited), their runs with steps inline, watched files and dataset lineage
(read-only: they are records of what happened)."""

from django.contrib import admin

from federation.pipelines.models import DatasetLineage, Pipeline, PipelineRun, PipelineStep, WatchedFile
from rmnconsole.admin import GuardedAdmin


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Pipeline)
class PipelineAdmin(GuardedAdmin):
    list_display = ("name", "source_kind", "suite", "deployment", "schedule", "enabled")
    search_fields = ("name",)
    raw_id_fields = ("mapping", "base_model", "suite", "deployment")


class StepInline(admin.TabularInline):
    model = PipelineStep
    extra = 0
    fields = ("kind", "attempt", "status", "status_reason", "waiting_on", "started_at", "finished_at")
    readonly_fields = fields
    can_delete = False


@admin.register(PipelineRun)
class PipelineRunAdmin(ReadOnlyAdmin):
    list_display = ("pipeline", "number", "status", "trigger", "decision", "created_at")
    list_filter = ("status", "decision", "trigger")
    inlines = [StepInline]


@admin.register(PipelineStep)
class PipelineStepAdmin(ReadOnlyAdmin):
    list_display = ("run", "kind", "attempt", "status", "worker", "heartbeat_at")
    list_filter = ("kind", "status")


@admin.register(WatchedFile)
class WatchedFileAdmin(ReadOnlyAdmin):
    list_display = ("pipeline", "path", "sha256", "size", "seen_at")


@admin.register(DatasetLineage)
class DatasetLineageAdmin(ReadOnlyAdmin):
    list_display = ("dataset", "previous", "pipeline", "rows", "rows_added", "rows_removed")
