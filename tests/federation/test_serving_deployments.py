"""Deployments through every door (service, /api, manage.py, page, facade), delete protection, canary routing,
token scopes, and the /v1 errors answered before any worker is involved."""

from __future__ import annotations

import json
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from federation.serving import broker, services
from rmnconsole.core.errors import Conflict
from rmnconsole.models import ApiToken

pytestmark = pytest.mark.django_db


def test_promote_and_rollback_through_api_command_page_and_facade(fed, client, staff_user, settings):
    _, key = ApiToken.issue(staff_user, name="ops")
    headers = {"HTTP_AUTHORIZATION": f"Bearer {key}"}
    created = client.post(
        "/api/deployments",
        {"name": "amazon-planning", "adapter": "amazon_schema v1"},
        content_type="application/json",
        **headers,
    )
    assert created.status_code == 201, created.content
    assert created.json()["stages"]["production"]["target"]["label"] == "amazon_schema v1"
    client.put(
        "/api/deployments/amazon-planning/stages/staging",
        {"adapter": str(fed.task.pk)},
        content_type="application/json",
        **headers,
    )
    promoted = client.post(
        "/api/deployments/amazon-planning/promote", {}, content_type="application/json", **headers
    )
    assert promoted.json()["stages"]["production"]["target"]["label"] == "planning v1"

    # manage.py: roll back (one step) — production is the retailer adapter again.
    out = StringIO()
    call_command("deployment", "rollback", "amazon-planning", stdout=out)
    assert json.loads(out.getvalue())["stages"]["production"]["target"]["label"] == "amazon_schema v1"
    with pytest.raises(CommandError, match="no earlier target"):
        call_command("deployment", "rollback", "amazon-planning")

    # The page: one click promotes again.
    client.force_login(staff_user)
    page = client.get("/deployments/")
    assert page.status_code == 200 and b"amazon-planning" in page.content
    client.post("/deployments/amazon-planning/promote/")
    from rmnconsole import console

    assert console.list_deployments()[0]["stages"]["production"]["target"]["label"] == "planning v1"
    console.rollback_deployment("amazon-planning", user=staff_user.username)
    assert console.list_deployments()[0]["stages"]["production"]["target"]["label"] == "amazon_schema v1"
    actions = [e.action for e in services.get_deployment("amazon-planning").events.order_by("id")]
    assert actions == ["set", "set", "promote", "rollback", "promote", "rollback"]


def test_only_staff_change_deployments(fed, client, api_headers):
    refused = client.post(
        "/api/deployments",
        {"name": "mine", "adapter": "planning"},
        content_type="application/json",
        **api_headers,
    )
    assert refused.status_code == 403 and "Only admins" in refused.json()["detail"]


def test_deleting_a_served_adapter_or_federation_is_refused_naming_the_deployment(
    fed, make_federation, staff_user, staff_client
):
    from federation.services import delete_federation
    from training.services import delete_adapter

    federation = make_federation("additive")
    services.create_deployment("fed-serving", staff_user, federation=federation.pk)
    services.create_deployment("adapter-serving", staff_user, adapter=fed.task.pk, stage="staging")
    with pytest.raises(Conflict, match="deployment adapter-serving@staging"):
        delete_adapter(fed.task.pk, staff_user)
    response = staff_client.delete(f"/api/federations/{federation.pk}")
    assert response.status_code == 409 and "deployment fed-serving@production" in response.json()["detail"]
    services.delete_deployment("fed-serving", staff_user)
    delete_federation(federation, staff_user)  # free again once nothing serves it


def test_canary_sends_exactly_its_share_and_figures_per_target(fed, staff_user):
    deployment = services.create_deployment("canaried", staff_user, adapter=fed.retailer.pk)
    services.set_canary(deployment, "production", staff_user, percent=10, adapter=fed.task.pk)
    picks = [
        services.route(deployment, "production", draw=broker.canary_draw("canaried", "production"))
        for _ in range(100)
    ]
    assert sum(canary for _, canary in picks) == 10
    assert {t.label for t, canary in picks if canary} == {"planning v1"}
    with pytest.raises(Exception, match="whole percent"):
        services.set_canary(deployment, "production", staff_user, percent=101, adapter=fed.task.pk)


def test_v1_refuses_before_any_worker(fed, client, user, staff_user, settings):
    services.create_deployment("amazon-planning", staff_user, adapter=fed.retailer.pk)
    services.create_deployment("other", staff_user, adapter=fed.task.pk)
    _, key = ApiToken.issue(user)
    _, scoped = ApiToken.issue(user, scope="inference", deployments=["other"])
    auth = {"HTTP_AUTHORIZATION": f"Bearer {key}"}

    def chat(body, headers=auth):
        return client.post("/v1/chat/completions", body, content_type="application/json", **headers)

    missing = client.get("/v1/models")
    assert missing.status_code == 401 and missing.json()["error"]["code"] == "invalid_api_key"
    assert set(missing.json()["error"]) == {"message", "type", "param", "code"}
    assert chat({"model": "nope", "messages": [{"role": "user", "content": "hi"}]}).status_code == 404
    bad_json = client.post("/v1/completions", "{", content_type="application/json", **auth)
    assert bad_json.status_code == 400 and bad_json.json()["error"]["type"] == "invalid_request_error"
    for body, param in [
        ({"model": "amazon-planning", "messages": []}, "messages"),
        (
            {"model": "amazon-planning", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 0},
            "max_tokens",
        ),
        (
            {"model": "amazon-planning", "messages": [{"role": "user", "content": "hi"}], "stop": ["a"] * 5},
            "stop",
        ),
        ({"model": "amazon-planning", "messages": [{"role": "user", "content": "hi"}], "top_p": 0}, "top_p"),
        ({"model": "amazon-planning", "messages": [{"role": "wizard", "content": "hi"}]}, "messages[0].role"),
    ]:
        answer = chat(body)
        assert (answer.status_code, answer.json()["error"]["param"]) == (400, param)
    no_worker = chat({"model": "amazon-planning", "messages": [{"role": "user", "content": "hi"}]})
    assert no_worker.status_code == 503 and no_worker.json()["error"]["code"] == "no_worker"
    settings.RMN_METRICS_TOKEN, settings.RMN_METRICS_ALLOW = "", ["127.0.0.1/32"]
    metrics = client.get("/metrics").content.decode()
    assert 'rmn_serving_errors_total{deployment="amazon-planning",target="amazon_schema v1"} 1.0' in metrics
    assert "rmn_serving_workers 0.0" in metrics
    # An inference-scoped token opens /v1 for its deployments only, and no other API.
    scoped_auth = {"HTTP_AUTHORIZATION": f"Bearer {scoped}"}
    assert (
        chat(
            {"model": "amazon-planning", "messages": [{"role": "user", "content": "hi"}]}, scoped_auth
        ).status_code
        == 404
    )
    assert client.get("/api/me", **scoped_auth).status_code == 401
    assert client.get("/api/me", **auth).status_code == 200
    assert client.get("/v1/models", **scoped_auth).json()["data"][0]["id"] == "other"
    # A browser session is not a /v1 credential.
    client.force_login(user)
    assert client.get("/v1/models").status_code == 401
