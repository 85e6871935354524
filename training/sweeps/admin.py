"""Django admin for sweeps (imported by training/admin.py, which Django autodiscovers)."""

from django.contrib import admin

from rmnconsole.admin import GuardedAdmin
from training.sweeps.models import Sweep


@admin.register(Sweep)
class SweepAdmin(GuardedAdmin):
    list_display = (
        "id",
        "name",
        "status",
        "sampler",
        "pruner",
        "max_trials",
        "best_trial",
        "best_value",
        "created_at",
    )
    list_filter = ("status", "sampler", "pruner")
    search_fields = ("name", "adapter_name")
    readonly_fields = ("study_name", "best_job", "best_adapter")
