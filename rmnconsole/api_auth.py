"""API authentication: a per-user Bearer token, or the browser session with CSRF."""

from __future__ import annotations

from django.utils import timezone
from ninja.security import HttpBearer, django_auth

from rmnconsole.models import ApiToken, digest_token


class BearerToken(HttpBearer):
    def authenticate(self, request, token: str):
        if not token:
            return None
        match = ApiToken.objects.active().select_related("user").filter(digest=digest_token(token)).first()
        if match is None or not match.user.is_active:
            return None
        # One UPDATE per request at most once a minute: keeps last-used useful without write amplification.
        now = timezone.now()
        if match.last_used_at is None or (now - match.last_used_at).total_seconds() > 60:
            ApiToken.objects.filter(pk=match.pk).update(last_used_at=now)
        request.user = match.user
        return match.user


API_AUTH = [BearerToken(), django_auth]
