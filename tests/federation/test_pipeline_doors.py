"""The pipeline's doors over one set of services: pages (list, create form errors, run, approval, dataset lineage),
/api/pipelines (create, errors as 4xx JSON, staff-only trigger), and `manage.py pipeline` (one-line errors)."""

from __future__ import annotations

import io

import pytest
from django.core.management import CommandError, call_command

from federation.evaluation.suites import create_suite
from federation.pipelines.models import PipelineStep
from federation.pipelines.tasks import run_step
from federation.serving import services as serving
from rmnconsole.models import ApiToken

pytestmark = pytest.mark.django_db


@pytest.fixture
def setup(staff_user, tiny_base_models, data_root):
    from datasets_app.library.services import register_dataset_file

    path = data_root / "datasets" / "doors.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        "".join(f'{{"prompt": "Map sp {i}", "completion": "sponsored_product {i}"}}\n' for i in range(30))
    )
    register_dataset_file(path, name="doors")
    create_suite(name="doors-suite", cases=[{"prompt": "Map sp", "reference": "sponsored_product"}])
    serving.create_deployment("doors-deploy", staff_user)
    _, key = ApiToken.issue(staff_user, name="staff")
    return {"HTTP_AUTHORIZATION": f"Bearer {key}"}


BODY = {"name": "doors", "suite": "doors-suite", "deployment": "doors-deploy", "adapter_name": "doors_adapter",
        "base_model": "tiny-llama", "dataset_name": "doors"}  # fmt: skip


def test_api_creates_refuses_and_triggers(client, setup, api_headers):
    def post(body, headers):
        return client.post("/api/pipelines", body, content_type="application/json", **headers)

    bad = post({**BODY, "schedule": "61 * * * *"}, setup)
    assert bad.status_code == 400 and bad.json()["field"] == "schedule"
    outside = post({**BODY, "watch_path": "../../etc", "mapping": "1"}, setup)
    assert outside.status_code == 400 and outside.json()["field"] == "watch_path"
    assert "outside the data root" in outside.json()["detail"] and "/tmp" not in outside.json()["detail"]
    missing = post({**BODY, "suite": "nope"}, setup)
    assert missing.status_code == 404 and missing.json()["field"] == "suite"
    assert post(BODY, api_headers).status_code == 403  # not staff
    created = post(BODY, setup)
    assert created.status_code == 201 and created.json()["last_run"] is None
    assert post(BODY, setup).status_code == 409
    protected = client.delete("/api/deployments/doors-deploy", **setup)
    assert protected.status_code == 409 and "pipeline doors" in protected.json()["detail"]

    assert client.post("/api/pipelines/doors/runs", **api_headers).status_code == 403
    run = client.post("/api/pipelines/doors/runs", **setup)
    assert run.status_code == 201 and run.json()["status"] == "running" and run.json()["trigger"] == "api"
    first = run.json()["id"]
    assert (
        client.post("/api/pipelines/doors/runs", **setup).json()["id"] == first
    )  # its build has not started
    assert run_step(PipelineStep.objects.get(run_id=first).pk) == "completed"
    again = client.post("/api/pipelines/doors/runs", **setup).json()
    assert again["status"] == "waiting"
    assert (
        client.post("/api/pipelines/doors/runs", **setup).json()["id"] == again["id"]
    )  # joins the queued one
    detail = client.get(f"/api/pipelines/runs/{first}", **setup).json()
    assert [(s["kind"], s["status"]) for s in detail["steps"]] == [
        ("build", "completed"),
        ("validate", "queued"),
    ]
    assert (
        client.post(f"/api/pipelines/runs/{run.json()['id']}/approve", **setup).status_code == 409
    )  # not held
    assert client.get("/api/pipelines/runs/999999", **setup).status_code == 404
    assert client.get("/api/pipelines", **setup).json()[0]["last_run"]["number"] == 2

    assert client.delete("/api/pipelines/doors", **setup).status_code == 409  # runs going
    disabled = client.put(
        "/api/pipelines/doors/enabled", {"enabled": False}, content_type="application/json", **setup
    )
    assert disabled.status_code == 200 and disabled.json()["enabled"] is False
    assert client.post("/api/pipelines/doors/runs", **setup).status_code == 409
    for run_id in (first, again["id"]):
        assert client.post(f"/api/pipelines/runs/{run_id}/cancel", **setup).json()["status"] == "cancelled"
    assert client.delete("/api/pipelines/doors", **api_headers).status_code == 403
    assert client.delete("/api/pipelines/doors", **setup).status_code == 204
    assert client.get("/api/pipelines/doors", **setup).status_code == 404


def test_pages_and_cli(client, staff_user, setup):
    from federation.pipelines import services

    assert client.get("/federation/pipelines/").status_code == 302  # login on every page
    client.force_login(staff_user)
    page = client.post("/federation/pipelines/", {**BODY, "watch_path": "../outside", "mapping": "1"})
    assert page.status_code == 200 and "outside the data root" in page.content.decode()
    assert client.post("/federation/pipelines/", BODY).status_code == 302
    listing = client.get("/federation/pipelines/").content.decode()
    assert "doors" in listing and "never run" in listing
    run = services.trigger_run("doors", user=staff_user)
    body = client.get(f"/federation/pipelines/runs/{run.pk}/").content.decode()
    assert 'data-step="build"' in body and "data-live-topic" in body
    partial = client.get(f"/federation/pipelines/runs/{run.pk}/", HTTP_HX_REQUEST="true")
    assert partial.status_code == 200 and partial.content.decode().startswith('\n<div id="pipeline-run-body"')
    assert client.get(f"/federation/pipelines/runs/{run.pk}/approval/").status_code == 200
    assert client.get("/federation/pipelines/datasets/999999/").status_code == 404
    assert client.get("/federation/pipelines/nope/").status_code == 404

    with pytest.raises(CommandError, match="Unknown pipeline 'nope'"):
        call_command("pipeline", "run", "nope")
    out = io.StringIO()
    call_command("pipeline", "list", stdout=out)
    call_command("pipeline", "check", stdout=out)
    assert "doors\tdataset\trun 1 running" in out.getvalue() and "pipeline check: {" in out.getvalue()
