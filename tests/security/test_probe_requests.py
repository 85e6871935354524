"""The held-out probe's request-level findings: NUL under every content type, JSON errors only under /api, 401 (not a
CSRF 403) without credentials, the schema for Bearer clients with its bounds where clients read them, object bodies."""

from __future__ import annotations

import json

import pytest
from django.test import Client

from tests.security.world import World

pytestmark = pytest.mark.django_db

NUL_JSON_ESCAPE = b'"notes": "a\\u0000b"'
RAW_NUL = b'"notes": "a\x00b"'


def _mapping_body(world: World, notes_fragment: bytes) -> bytes:
    head = json.dumps({"name": "nul_map", "retailer": "world", "source_id": world.source.pk})[:-1].encode()
    return head + b", " + notes_fragment + b"}"


@pytest.mark.parametrize(
    "content_type",
    [
        "application/json",
        "text/plain",
        "Application/JSON",
        "application/vnd.api+json",
        None,
        "application/octet-stream",
    ],
)
@pytest.mark.parametrize("fragment", [NUL_JSON_ESCAPE, RAW_NUL], ids=["json-escape", "raw-byte"])
def test_nul_in_a_body_is_refused_whatever_the_content_type(world, api_headers, content_type, fragment):
    from datasets_app.mappings.models import SchemaMapping

    body = _mapping_body(world, fragment)
    client = Client()
    kwargs = dict(api_headers)
    if content_type is None:
        response = client.generic("POST", "/api/mappings", body, **kwargs)
    else:
        response = client.generic("POST", "/api/mappings", body, content_type=content_type, **kwargs)
    assert response.status_code == 400, response.content[:300]
    assert response["Content-Type"].startswith("application/json")
    assert "NUL" in response.json()["detail"]
    assert not SchemaMapping.objects.filter(name="nul_map").exists()


def test_nul_in_form_bodies_and_query_strings_is_refused(client_logged_in, api_headers):
    for content_type in ("application/x-www-form-urlencoded", "Application/X-WWW-Form-Urlencoded"):
        response = client_logged_in.generic(
            "POST", "/mappings/new/", b"name=a%00b", content_type=content_type
        )
        assert response.status_code == 400
    response = Client().get("/api/datasets?sort=a%00", **api_headers)
    assert response.status_code == 400 and "NUL" in response.json()["detail"]


def test_unknown_api_paths_answer_json_404(api_headers):
    for client_kwargs in (api_headers, {}):
        response = Client().get("/api/no-such-thing/", **client_kwargs)
        assert response.status_code == 404
        assert response["Content-Type"].startswith("application/json") and response.json()["detail"]


@pytest.mark.django_db
def test_a_method_the_endpoint_lacks_answers_json_405_with_allow(api_headers):
    response = Client().generic("TRACE", "/api/me", **api_headers)
    assert response.status_code == 405
    assert response.json()["detail"] == "This method is not allowed on this endpoint."
    assert response["Allow"] == "GET"  # RFC 9110: a 405 names the methods the endpoint has


def test_an_unexpected_api_error_answers_json_500_without_a_traceback(api_headers, monkeypatch):
    from datasets_app.library import api as library_api

    def boom(*args, **kwargs):
        raise RuntimeError("secret /srv/path in a traceback")

    monkeypatch.setattr(library_api.Dataset.objects, "select_related", boom)
    response = Client(raise_request_exception=False).get("/api/datasets", **api_headers)
    assert response.status_code == 500
    assert response["Content-Type"].startswith("application/json")
    assert "secret" not in response.content.decode()


@pytest.mark.parametrize(
    "method,path",
    [("post", "/api/mappings"), ("post", "/api/datasets/register"), ("delete", "/api/datasets/1")],
)
def test_write_without_any_credentials_is_401_not_a_csrf_403(method, path):
    response = getattr(Client(enforce_csrf_checks=True), method)(
        path, data="{}", content_type="application/json"
    )
    assert response.status_code == 401, response.content
    assert "Authentication required" in response.json()["detail"]


def test_a_session_without_csrf_is_still_refused(user):
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    response = client.post("/api/datasets/register", data="{}", content_type="application/json")
    assert response.status_code == 403


def test_openapi_json_is_served_to_a_bearer_client(api_headers):
    response = Client().get("/api/openapi.json", **api_headers)
    assert response.status_code == 200 and response.json()["info"]["title"]
    anonymous = Client().get("/api/openapi.json")
    assert anonymous.status_code == 401 and anonymous["Content-Type"].startswith("application/json")
    bad = Client().get("/api/openapi.json", HTTP_AUTHORIZATION="Bearer rmn_wrong")
    assert bad.status_code == 401


def test_published_bounds_are_json_schema_keywords(api_headers):
    schema = Client().get("/api/openapi.json", **api_headers).json()
    prop = schema["components"]["schemas"]["ValidateIn"]["properties"]["max_seq_len"]
    integer = next(branch for branch in prop["anyOf"] if branch.get("type") == "integer")
    assert integer["minimum"] == 1 and integer["maximum"] == 1_000_000

    def walk(node):
        if isinstance(node, dict):
            if "type" in node:
                assert not {"ge", "le", "gt", "lt"} & set(node), node
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(schema)


@pytest.mark.parametrize("body", [b"[null, null]", b"7", b"null", b'"text"', b"[]"])
def test_non_object_json_bodies_are_refused(world, api_headers, body):
    from datasets_app.models import Dataset

    world.dataset
    before = Dataset.objects.count()
    for path in ("/api/datasets/register", f"/api/datasets/{world.dataset.pk}/validate"):
        response = Client().post(path, data=body, content_type="application/json", **api_headers)
        assert response.status_code in (400, 422), (path, body, response.content)
        assert "JSON object" in response.json()["detail"]
    assert Dataset.objects.count() == before
