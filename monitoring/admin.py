"""Admin for monitoring: samples (read-mostly), worker hosts and alerts."""

from django.contrib import admin

from monitoring.engine.sampler import GAUGES
from monitoring.models import Alert, SystemSample, WorkerHost
from rmnconsole.admin import GuardedAdmin


@admin.register(SystemSample)
class SystemSampleAdmin(GuardedAdmin):
    list_display = ("at", "host", "gpu_index", "resolution", *GAUGES)
    list_filter = ("resolution", "host")
    search_fields = ("host", "gpu_name")
    date_hierarchy = "at"
    show_full_result_count = False  # the table holds millions of rows after weeks


@admin.register(WorkerHost)
class WorkerHostAdmin(GuardedAdmin):
    list_display = ("host", "gpu_count", "cuda", "bitsandbytes", "no_gpu_reason", "last_seen", "stopped_at")
    list_filter = ("cuda", "bitsandbytes")
    search_fields = ("host", "no_gpu_reason", "platform")
    readonly_fields = ("first_seen", "last_seen", "latest")


@admin.register(Alert)
class AlertAdmin(GuardedAdmin):
    list_display = (
        "first_seen",
        "rule",
        "key",
        "severity",
        "message",
        "last_seen",
        "resolved_at",
        "acknowledged_by",
    )
    list_filter = (
        "rule",
        "severity",
        ("resolved_at", admin.EmptyFieldListFilter),
        ("acknowledged_at", admin.EmptyFieldListFilter),
    )
    search_fields = ("key", "message")
    raw_id_fields = ("acknowledged_by",)
