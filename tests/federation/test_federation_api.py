"""The /api federation endpoints: create, list, detail, infer, inference, export/import, A/B tests, auth."""

from __future__ import annotations

import json

import pytest

from federation import tasks
from federation.models import Federation, InferenceRun

pytestmark = pytest.mark.django_db


def post(client, url, body, headers):
    return client.post(url, data=json.dumps(body), content_type="application/json", **headers)


def test_create_list_detail_and_errors(client, fed, api_headers):
    body = {
        "name": "amazon-planning",
        "base_model": "tiny-llama",
        "method": "additive",
        "retailer_adapter": "amazon_schema",
        "task_adapter": "planning v1",
        "options": {"combination": "cat"},
    }
    created = post(client, "/api/federations", body, api_headers)
    assert created.status_code == 201, created.content
    data = created.json()
    assert data["status"] == "ready" and [m["adapter"] for m in data["members"]] == [
        "amazon_schema v1",
        "planning v1",
    ]
    assert [m["role"] for m in data["members"]] == ["retailer", "task"] and data["members"][0][
        "size_bytes"
    ] > 0

    listed = client.get("/api/federations", **api_headers).json()
    assert [f["name"] for f in listed] == ["amazon-planning"]
    detail = client.get(f"/api/federations/{data['id']}", **api_headers).json()
    assert detail["metrics"]["adapter_bytes"] == fed.retailer.size_bytes + fed.task.size_bytes

    mismatch = post(
        client, "/api/federations", {**body, "name": "x", "task_adapter": "mistral_creative"}, api_headers
    )
    assert mismatch.status_code == 400 and "tiny-mistral" in mismatch.json()["detail"]
    assert post(client, "/api/federations", body, api_headers).status_code == 409
    invalid = post(client, "/api/federations", {**body, "method": "blend"}, api_headers)
    assert invalid.status_code == 422 and "method" in invalid.json()["detail"]
    assert client.get("/api/federations/999999", **api_headers).status_code == 404
    assert client.get("/api/federations").status_code == 401
    assert client.delete(f"/api/federations/{data['id']}", **api_headers).status_code == 403


def test_infer_then_poll_the_run(client, fed, api_headers, make_federation, texts):
    federation = make_federation()
    accepted = post(
        client,
        f"/api/federations/{federation.pk}/infer",
        {"prompt": texts.task_prompt, "max_new_tokens": 8, "seed": 1},
        api_headers,
    )
    assert accepted.status_code == 202
    run_id = accepted.json()["run_id"]
    assert client.get(f"/api/inference/{run_id}", **api_headers).json()["status"] == "queued"
    tasks.run_inference(run_id)  # what the inference worker does with the queued id
    run = client.get(f"/api/inference/{run_id}", **api_headers).json()
    assert run["status"] == "completed" and run["response"] and run["generated_tokens"] > 0
    assert run["seed"] == 1 and run["cache_hit"] is False and run["ttft_ms"] is not None
    bad = post(
        client, f"/api/federations/{federation.pk}/infer", {"prompt": "x", "max_new_tokens": "8"}, api_headers
    )
    assert bad.status_code == 422
    assert (
        post(
            client,
            f"/api/federations/{federation.pk}/infer",
            {"prompt": "x", "max_new_tokens": 5000},
            api_headers,
        )
        .json()["detail"]
        .startswith("Max new tokens")
    )
    assert client.get("/api/inference/999999", **api_headers).status_code == 404


def test_export_then_import(client, fed, api_headers, make_federation):
    federation = make_federation("sequential", name="chain")
    exported = client.get(f"/api/federations/{federation.pk}/export", **api_headers)
    assert exported.status_code == 200 and exported.json()["method"] == "sequential"
    imported = post(client, "/api/federations/import?name=chain-2", exported.json(), api_headers)
    assert imported.status_code == 201, imported.content
    assert imported.json()["name"] == "chain-2" and len(imported.json()["members"]) == 2
    assert post(client, "/api/federations/import", {"format": "other"}, api_headers).status_code == 400
    assert Federation.objects.count() == 2


def test_abtests_endpoints(client, fed, api_headers, make_federation, texts):
    a = make_federation(name="a")
    b = make_federation(name="b", weights=(0.5, 1.0))
    body = {
        "federation_a": a.pk,
        "federation_b": b.pk,
        "max_new_tokens": 6,
        "prompts": [
            {"prompt": texts.task_prompt, "reference": texts.task_answer},
            {"prompt": texts.retailer_prompt, "reference": texts.retailer_answer},
        ],
    }
    created = post(client, "/api/abtests", body, api_headers)
    assert created.status_code == 201, created.content
    test_id = created.json()["id"]
    tasks.run_abtest(test_id)
    got = client.get(f"/api/abtests/{test_id}", **api_headers).json()
    assert got["status"] == "completed" and len(got["results"]["rows"]) == 2 and got["verdict"]
    assert got["results"]["scored_prompts"] == 2 and got["suite_id"] and got["run_a_id"] and got["run_b_id"]
    assert [t["id"] for t in client.get("/api/abtests", **api_headers).json()] == [test_id]
    assert post(client, "/api/abtests", {**body, "federation_b": a.pk}, api_headers).status_code == 400
    mixed = {**body, "prompts": [*body["prompts"], {"prompt": texts.task_prompt}]}
    refused = post(client, "/api/abtests", mixed, api_headers)
    assert refused.status_code == 400 and "give every prompt one" in refused.content.decode()
    sampled = post(client, "/api/abtests", {**body, "temperature": 0.7}, api_headers)
    assert sampled.status_code == 400 and "greedily" in sampled.content.decode()
    assert InferenceRun.objects.count() == 0, "A/B generations are stored with the test, not as test runs"
