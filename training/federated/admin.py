from django.contrib import admin

from rmnconsole.admin import GuardedAdmin
from training.federated.models import FederatedTrainingJob, Silo, SiloRound


@admin.register(Silo)
class SiloAdmin(GuardedAdmin):
    list_display = ("name", "retailer", "supernode_host", "node_id", "last_status", "created_at")
    search_fields = ("name", "retailer")


@admin.register(FederatedTrainingJob)
class FederatedTrainingJobAdmin(GuardedAdmin):
    list_display = ("id", "adapter_name", "status", "current_round", "num_rounds", "privacy", "created_at")
    list_filter = ("status", "strategy", "privacy")


@admin.register(SiloRound)
class SiloRoundAdmin(GuardedAdmin):
    list_display = ("job", "round", "phase", "silo_name", "ok", "loss", "examples")
    list_filter = ("phase", "ok")
