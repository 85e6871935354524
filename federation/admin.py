"""Django admin for federations, their members, gate trainings, inference runs and A/B tests."""

from django.contrib import admin, messages

from federation.models import ABTest, Federation, FederationMember, GateTraining, InferenceRun
from federation.runs import request_cache_clear
from rmnconsole.admin import GuardedAdmin


class FederationMemberInline(admin.TabularInline):
    model = FederationMember
    extra = 0
    raw_id_fields = ("adapter",)


@admin.action(description="Clear the inference workers' model cache")
def clear_model_cache(modeladmin, request, queryset):
    epoch = request_cache_clear(request.user)
    modeladmin.message_user(request, f"Model cache clear requested (epoch {epoch}).", messages.SUCCESS)


@admin.register(Federation)
class FederationAdmin(GuardedAdmin):
    list_display = ("name", "base_model", "method", "status", "version", "created_by", "created_at")
    list_filter = ("method", "status", "base_model")
    search_fields = ("name", "members__adapter__name")
    inlines = [FederationMemberInline]
    actions = [clear_model_cache]


@admin.register(FederationMember)
class FederationMemberAdmin(GuardedAdmin):
    list_display = ("federation", "position", "adapter", "weight", "role")
    list_filter = ("role",)
    search_fields = ("federation__name", "adapter__name")


@admin.register(GateTraining)
class GateTrainingAdmin(GuardedAdmin):
    list_display = (
        "id",
        "federation",
        "federation_version",
        "status",
        "current_step",
        "total_steps",
        "loss",
        "created_at",
    )
    list_filter = ("status",)
    search_fields = ("federation__name",)


@admin.register(InferenceRun)
class InferenceRunAdmin(GuardedAdmin):
    list_display = (
        "id",
        "federation",
        "status",
        "generated_tokens",
        "latency_ms",
        "ttft_ms",
        "cache_hit",
        "created_at",
    )
    list_filter = ("status", "cache_hit")
    search_fields = ("federation__name", "prompt", "response")


@admin.register(ABTest)
class ABTestAdmin(GuardedAdmin):
    list_display = ("name", "federation_a", "federation_b", "status", "prompt_source", "created_at")
    list_filter = ("status", "prompt_source")
    search_fields = ("name", "federation_a__name", "federation_b__name")


# Serving (deployments) and pipelines register their admin pages with this app.
import federation.pipelines.admin  # noqa: E402
import federation.serving.admin  # noqa: E402, F401
