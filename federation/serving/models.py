"""Deployments: a model name callers use, with a production and a staging target (a federation or an adapter)."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

from training.models import Adapter

PRODUCTION = "production"
STAGING = "staging"
STAGES = (PRODUCTION, STAGING)


class Deployment(models.Model):
    """`name` is the `model` an OpenAI client sends; `name@staging` reaches the staging target."""

    name = models.CharField(max_length=120, unique=True)
    description = models.TextField(blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="deployments"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        app_label = "federation"
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def stage(self, name: str) -> DeploymentStage | None:
        return self.stages.filter(stage=name).select_related(*TARGET_RELATED).first()


TARGET_RELATED = ("federation", "adapter", "canary_federation", "canary_adapter")


class DeploymentStage(models.Model):
    """One stage's target, and optionally a canary target that takes `canary_percent` of its requests.

    PROTECT: a federation or adapter a stage serves cannot be deleted (the delete services answer 409 with
    this row's deployment name).
    """

    deployment = models.ForeignKey(Deployment, on_delete=models.CASCADE, related_name="stages")
    stage = models.CharField(max_length=20, choices=[(s, s.title()) for s in STAGES])
    federation = models.ForeignKey(
        "federation.Federation", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    adapter = models.ForeignKey(Adapter, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    canary_federation = models.ForeignKey(
        "federation.Federation", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    canary_adapter = models.ForeignKey(
        Adapter, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    canary_percent = models.PositiveSmallIntegerField(default=0)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        app_label = "federation"
        ordering = ["deployment", "stage"]
        constraints = [
            models.UniqueConstraint(fields=["deployment", "stage"], name="deployment_stage_unique"),
            models.CheckConstraint(
                condition=~(Q(federation__isnull=False) & Q(adapter__isnull=False)),
                name="deployment_stage_one_target",
            ),
            models.CheckConstraint(condition=Q(canary_percent__lte=100), name="deployment_canary_percent"),
        ]

    def __str__(self) -> str:
        return f"deployment {self.deployment.name}@{self.stage}"

    @property
    def target(self):
        return self.federation or self.adapter

    @property
    def canary(self):
        return (self.canary_federation or self.canary_adapter) if self.canary_percent else None


class DeploymentEvent(models.Model):
    """Every change of a stage's target: what it was before (rollback restores it) and what it became."""

    deployment = models.ForeignKey(Deployment, on_delete=models.CASCADE, related_name="events")
    stage = models.CharField(max_length=20)
    action = models.CharField(max_length=20)  # set | promote | rollback | canary | pipeline
    previous = models.JSONField(default=dict, blank=True, help_text="{kind, id, label} or {}")
    current = models.JSONField(default=dict, blank=True, help_text="{kind, id, label} or {}")
    rolled_back = models.BooleanField(default=False)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    at = models.DateTimeField(auto_now_add=True)

    class Meta:
        app_label = "federation"
        ordering = ["-at", "-id"]

    def __str__(self) -> str:
        return f"{self.deployment.name}@{self.stage} {self.action}"
