"""Console-wide models: API tokens and the audit log."""

from __future__ import annotations

import hashlib
import secrets

from django.conf import settings
from django.db import models
from django.utils import timezone

TOKEN_PREFIX = "rmn_"  # noqa: S105 - a public prefix, not a secret


def digest_token(raw: str) -> str:
    # Tokens carry 256 bits of randomness, so a plain SHA-256 is enough at rest (no slow KDF needed).
    return hashlib.sha256(raw.encode()).hexdigest()


class ApiTokenQuerySet(models.QuerySet):
    def active(self):
        return self.filter(revoked_at__isnull=True)


class ApiToken(models.Model):
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=100, default="cli")
    prefix = models.CharField(max_length=12, help_text="First characters of the token, to recognise it.")
    digest = models.CharField(max_length=64, unique=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    # An "inference" token calls only /v1 (the OpenAI-compatible endpoint), and only the deployments it names.
    scope = models.CharField(
        max_length=20,
        choices=[("full", "Full API"), ("inference", "Inference only")],
        default="full",
        help_text="full: every API call; inference: only /v1 on the deployments listed.",
    )
    deployments = models.JSONField(
        default=list, blank=True, help_text="Inference tokens: deployment names allowed (empty = all)."
    )
    requests_per_minute = models.PositiveIntegerField(
        null=True, blank=True, help_text="Per-token /v1 limit; empty = RMN_SERVING_REQUESTS_PER_MINUTE."
    )

    objects = ApiTokenQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.prefix}… ({self.user}, {self.name})"

    @classmethod
    def issue(cls, user, name: str = "cli", **scope) -> tuple[ApiToken, str]:
        """Create a token; the raw value is returned once and never stored.

        `scope` takes scope="inference", deployments=[names], requests_per_minute=N.
        """
        raw = TOKEN_PREFIX + secrets.token_urlsafe(32)
        token = cls.objects.create(user=user, name=name, prefix=raw[:12], digest=digest_token(raw), **scope)
        return token, raw

    def allows_deployment(self, name: str) -> bool:
        return self.scope == "full" or not self.deployments or name in self.deployments

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None

    def revoke(self) -> None:
        ApiToken.objects.filter(pk=self.pk, revoked_at__isnull=True).update(revoked_at=timezone.now())


class AuditEvent(models.Model):
    """Who started, cancelled, deleted or activated what."""

    at = models.DateTimeField(default=timezone.now, db_index=True)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    action = models.CharField(max_length=50, db_index=True)
    object_type = models.CharField(max_length=50)
    object_id = models.CharField(max_length=64)
    summary = models.CharField(max_length=300, blank=True)
    details = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-at"]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M} {self.actor} {self.action} {self.object_type}#{self.object_id}"
