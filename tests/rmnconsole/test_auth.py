"""Nobody in without credentials; API tokens and session+CSRF for the API."""

import pytest
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver

from rmnconsole.models import ApiToken, digest_token

pytestmark = pytest.mark.django_db


def _all_paths(resolver=None, prefix=""):
    resolver = resolver or get_resolver()
    for entry in resolver.url_patterns:
        pattern = str(entry.pattern)
        if isinstance(entry, URLResolver):
            yield from _all_paths(entry, prefix + pattern)
        elif isinstance(entry, URLPattern):
            yield prefix + pattern


def _concrete(pattern: str) -> str:
    import re

    path = pattern.replace("^", "").replace("$", "").replace("\\Z", "").replace("\\", "")
    path = re.sub(r"<int:[^>]+>|\(\?P<[^>]+>\[0-9\]\+\)", "1", path)
    path = re.sub(r"<[^>]+>|\(\?P<[^>]+>[^)]+\)", "x", path)
    return "/" + path


PUBLIC = {"/accounts/login/", "/admin/login/"}


def test_every_url_requires_credentials(client, settings):
    settings.RMN_METRICS_ALLOW = []  # the loopback allow-list would count as a credential for /metrics
    paths = sorted({_concrete(p) for p in _all_paths()} - PUBLIC)
    assert len(paths) > 10
    for path in paths:
        for method in ("get", "post"):
            response = getattr(client, method)(path)
            if response.status_code == 302:
                assert "login" in response["Location"], (method, path, response["Location"])
            else:
                assert response.status_code in (401, 403, 404, 405), (method, path, response.status_code)
                assert response.status_code != 200


def test_login_page_renders_styled(client):
    response = client.get("/accounts/login/")
    assert response.status_code == 200
    assert b"console.css" in response.content and b"RMN LoRA Console" in response.content


def test_bearer_token_authenticates_and_revocation_locks_out(client, user):
    token, raw = ApiToken.issue(user, name="ci")
    assert token.digest == digest_token(raw) and raw not in token.digest
    assert not ApiToken.objects.filter(digest=raw).exists()
    response = client.get("/api/me", HTTP_AUTHORIZATION=f"Bearer {raw}")
    assert response.status_code == 200 and response.json()["username"] == "analyst"
    token.refresh_from_db()
    assert token.last_used_at is not None
    token.revoke()
    response = client.get("/api/me", HTTP_AUTHORIZATION=f"Bearer {raw}")
    assert response.status_code == 401
    assert "detail" in response.json()


def test_wrong_token_is_401(client):
    response = client.get("/api/me", HTTP_AUTHORIZATION="Bearer rmn_not-a-real-token")
    assert response.status_code == 401


def test_session_api_call_needs_csrf(user):
    csrf_client = Client(enforce_csrf_checks=True)
    csrf_client.force_login(user)
    assert csrf_client.get("/api/me").status_code == 200
    # An unsafe method with the session but without the CSRF token is refused.
    response = csrf_client.post("/api/me")
    assert response.status_code in (401, 403, 405)


def test_create_api_token_command(user, capsys):
    from django.core.management import call_command
    from django.core.management.base import CommandError

    call_command("create_api_token", "analyst", "--name", "laptop")
    raw = capsys.readouterr().out.strip()
    assert raw.startswith("rmn_")
    assert ApiToken.objects.get(digest=digest_token(raw)).name == "laptop"
    with pytest.raises(CommandError, match="no user named 'ghost'"):
        call_command("create_api_token", "ghost")


def test_openapi_docs_for_logged_in_users(client_logged_in):
    assert client_logged_in.get("/api/docs").status_code == 200
    schema = client_logged_in.get("/api/openapi.json").json()
    assert schema["info"]["title"] == "RMN LoRA Admin Console API"


def test_nul_bytes_are_refused_everywhere(client_logged_in, api_headers):
    assert client_logged_in.get("/training/?q=a%00b").status_code == 400
    response = client_logged_in.get("/api/me?x=%00", **api_headers)
    assert response.status_code == 400 and "NUL" in response.json()["detail"]
    response = client_logged_in.post(
        "/api/me", data='{"name": "a\\u0000"}', content_type="application/json", **api_headers
    )
    assert response.status_code == 400


def test_malformed_multipart_to_the_api_answers_json(client, api_headers):
    body = b"--xyz\r\n[not a part]--xyz--\r\n"
    response = client.post(
        "/api/datasets", data=body, content_type="multipart/form-data; boundary=xyz", **api_headers
    )
    assert 400 <= response.status_code < 500
    assert response["Content-Type"].startswith("application/json") and "detail" in response.json()
