"""API authentication: a per-user Bearer token, or the browser session with CSRF."""

from __future__ import annotations

from functools import wraps

from django.contrib.auth.views import redirect_to_login
from django.http import JsonResponse
from django.utils import timezone
from ninja.security import HttpBearer
from ninja.security.session import SessionAuth

from rmnconsole.models import ApiToken, digest_token


class BearerToken(HttpBearer):
    def authenticate(self, request, token: str):
        if not token:
            return None
        match = ApiToken.objects.active().select_related("user").filter(digest=digest_token(token)).first()
        if match is None or not match.user.is_active or match.scope != "full":
            # An inference-only token opens /v1 and nothing else.
            return None
        # One UPDATE per request at most once a minute: keeps last-used useful without write amplification.
        now = timezone.now()
        if match.last_used_at is None or (now - match.last_used_at).total_seconds() > 60:
            ApiToken.objects.filter(pk=match.pk).update(last_used_at=now)
        request.user = match.user
        return match.user


class SessionWithCsrf(SessionAuth):
    """The browser session; CSRF is checked only when there is a session to protect.

    ninja checks CSRF before it looks for a user, so a request with no credentials at all got 403 "CSRF check
    failed" instead of 401.
    """

    def _get_key(self, request):
        if not getattr(request, "user", None) or not request.user.is_authenticated:
            return None
        return super()._get_key(request)


API_AUTH = [BearerToken(), SessionWithCsrf()]


def docs_auth(view):
    """The schema and the docs page for any authenticated client: session or Bearer token.

    A Bearer client without a session gets the schema; a client with neither gets 401 JSON for the schema and the
    login page for the HTML docs.
    """

    @wraps(view)
    def wrapper(request, *args, **kwargs):
        if not request.user.is_authenticated:
            header = request.headers.get("Authorization", "")
            scheme, _, token = header.partition(" ")
            if scheme.lower() != "bearer" or BearerToken().authenticate(request, token.strip()) is None:
                if request.path.endswith(".json"):
                    return JsonResponse(
                        {
                            "detail": "Authentication required: send 'Authorization: Bearer <token>' or log in."
                        },
                        status=401,
                    )
                return redirect_to_login(request.get_full_path())
        return view(request, *args, **kwargs)

    return wrapper
