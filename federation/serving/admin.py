"""Admin: deployments with their stages inline, and the change history (read-only)."""

from django.contrib import admin

from federation.serving.models import Deployment, DeploymentEvent, DeploymentStage


class StageInline(admin.TabularInline):
    model = DeploymentStage
    extra = 0
    raw_id_fields = ("federation", "adapter", "canary_federation", "canary_adapter")


@admin.register(Deployment)
class DeploymentAdmin(admin.ModelAdmin):
    list_display = ("name", "created_by", "created_at")
    search_fields = ("name",)
    inlines = [StageInline]


@admin.register(DeploymentEvent)
class DeploymentEventAdmin(admin.ModelAdmin):
    list_display = ("deployment", "stage", "action", "at", "actor")
    list_filter = ("action", "stage")

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False
