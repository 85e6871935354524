"""Federation pages: the create form, the composition stack, the HTMX test panel, exports, A/B pages."""

from __future__ import annotations

import io
import json
import re
import zipfile

import pytest

from federation import tasks
from federation.models import ABTest, Federation, InferenceRun

pytestmark = pytest.mark.django_db
HTMX = {"HTTP_HX_REQUEST": "true"}


def test_create_form_follows_the_guide_and_creates(client_logged_in, fed):
    page = client_logged_in.get("/federation/").content.decode()
    steps = [
        "Select base model",
        "Choose retailer adapter (optional)",
        "Choose task adapter (optional)",
        "Select composition method",
        'type="submit">Create Federation',
    ]
    positions = [page.index(s) for s in steps]
    assert positions == sorted(positions)
    assert f'data-base="{fed.llama.pk}"' in page and "Additive — sum adapter weights" in page
    response = client_logged_in.post(
        "/federation/",
        {
            "name": "amazon-planning",
            "base_model": fed.llama.pk,
            "retailer_adapter": fed.retailer.pk,
            "retailer_weight": "1.0",
            "task_adapter": fed.task.pk,
            "task_weight": "0.5",
            "method": "additive",
            "combination": "cat",
            "density": "0.5",
            "gate_steps": "60",
        },
    )
    federation = Federation.objects.get(name="amazon-planning")
    assert response.status_code == 302 and response["Location"] == f"/federation/{federation.pk}/"
    assert [m.weight for m in federation.ordered_members()] == [1.0, 0.5]


def test_create_form_shows_the_mismatch_error(client_logged_in, fed):
    response = client_logged_in.post(
        "/federation/",
        {
            "name": "mixed",
            "base_model": fed.llama.pk,
            "task_adapter": fed.foreign.pk,
            "task_weight": "1",
            "retailer_weight": "1",
            "method": "additive",
            "combination": "cat",
            "density": "0.5",
            "gate_steps": "60",
        },
    )
    assert response.status_code == 400
    assert "mistral_creative v1 was trained on base model tiny-mistral" in response.content.decode()
    assert not Federation.objects.exists()


def test_detail_draws_the_stack_in_the_guides_order(client_logged_in, fed, make_federation):
    federation = make_federation(weights=(1.0, 0.5))
    html = client_logged_in.get(f"/federation/{federation.pk}/").content.decode()
    stack = html[html.index('data-testid="composition-stack"') : html.index("Merge fidelity")]
    boxes = re.findall(r'class="fed-box-title">([^<]+)<', stack)
    assert boxes == [
        "Base: tiny-llama",
        "Retailer: amazon_schema v1",
        "Task: planning v1",
        "Federated Model (Ready)",
    ]
    assert "rank=8)" in stack and "× 0.5" in stack
    assert "Total model size" in html and "Adapter overhead" in html and "Run Inference" in html


def test_run_inference_panel_polls_until_done(client_logged_in, fed, make_federation, texts):
    federation = make_federation()
    form = {"prompt": texts.task_prompt, "max_new_tokens": "8", "temperature": "0", "seed": "0"}
    started = client_logged_in.post(f"/federation/{federation.pk}/infer/", form, **HTMX)
    run = InferenceRun.objects.get()
    assert started.status_code == 200 and f'hx-get="/federation/runs/{run.pk}/"' in started.content.decode()
    pending = client_logged_in.get(f"/federation/runs/{run.pk}/", **HTMX)
    assert pending.status_code == 200
    tasks.run_inference(run.pk)
    done = client_logged_in.get(f"/federation/runs/{run.pk}/", **HTMX)
    body = done.content.decode()
    assert done.status_code == 286 and "hx-get" not in body and done["HX-Trigger"] == "run-finished"
    assert "Time to first token" in body and "amazon_schema v1" in body and "miss (loaded in" in body
    errors = client_logged_in.post(
        f"/federation/{federation.pk}/infer/", {**form, "max_new_tokens": "0"}, **HTMX
    )
    assert errors.status_code == 200 and "Max new tokens" in errors.content.decode()
    panel = client_logged_in.get(f"/federation/{federation.pk}/metrics/", **HTMX).content.decode()
    assert 'id="run-history"' in panel and texts.task_prompt[:20] in panel and "over 1 runs" in panel


def test_exports_and_import(client_logged_in, fed, make_federation):
    federation = make_federation(name="amazon-planning")
    exported = client_logged_in.get(f"/federation/{federation.pk}/export.json")
    assert exported["Content-Disposition"].startswith("attachment")
    config = json.loads(exported.content)
    archive = client_logged_in.post(f"/federation/{federation.pk}/export-adapter/")
    names = zipfile.ZipFile(io.BytesIO(b"".join(archive.streaming_content))).namelist()
    assert {"adapter_config.json", "adapter_model.safetensors", "README.md"} <= set(names)
    upload = io.BytesIO(json.dumps(config).encode())
    upload.name = "f.json"
    imported = client_logged_in.post("/federation/import/", {"config_file": upload, "name": "copy"})
    assert imported.status_code == 302 and Federation.objects.filter(name="copy").exists()
    broken = client_logged_in.post("/federation/import/", {"config_text": "{nope", "name": "x"}, follow=True)
    assert "not valid JSON" in broken.content.decode()


def test_clear_cache_is_for_admins(client, user, staff_user, fed):
    client.force_login(user)
    refused = client.post("/federation/cache/clear/", follow=True).content.decode()
    assert "Only admins can clear the model cache" in refused
    client.force_login(staff_user)
    page = client.get("/federation/").content.decode()
    assert "Clear model cache" in page
    done = client.post("/federation/cache/clear/", follow=True).content.decode()
    assert "Model cache clear sent" in done


def test_abtest_pages(client_logged_in, fed, make_federation, texts):
    a, b = make_federation(name="a"), make_federation(name="b", weights=(1.0, 0.5))
    response = client_logged_in.post(
        "/federation/abtests/",
        {
            "federation_a": a.pk,
            "federation_b": b.pk,
            "prompts_text": f"{texts.task_prompt} || {texts.task_answer}",
            "limit": "20",
            "max_new_tokens": "6",
            "temperature": "0",
            "seed": "0",
        },
    )
    test = ABTest.objects.get()
    assert response.status_code == 302
    assert client_logged_in.get(f"/federation/abtests/{test.pk}/", **HTMX).status_code == 200
    tasks.run_abtest(test.pk)
    done = client_logged_in.get(f"/federation/abtests/{test.pk}/", **HTMX)
    assert (
        done.status_code == 286
        and "Token-F1" in done.content.decode()
        and 'id="abtest-rows"' in done.content.decode()
    )
    diff = f"/federation/evals/runs/{test.run_a_id}/diff/{test.run_b_id}/"
    assert 'id="abtest-links"' in done.content.decode() and diff in done.content.decode()
    assert client_logged_in.get(diff).status_code == 200
    assert "a" in client_logged_in.get("/federation/abtests/").content.decode()


def test_gated_page_polls_gate_progress_then_reloads(client_logged_in, fed, make_federation):
    federation = make_federation("gated", gate_steps=3)
    page = client_logged_in.get(f"/federation/{federation.pk}/").content.decode()
    assert (
        "Federated Model (Draft)" in page
        and 'hx-get="/federation/' in page
        and "Cancel gate training" in page
    )
    assert 'disabled title="The federation is not ready"' in page
    assert client_logged_in.get(f"/federation/{federation.pk}/gate/", **HTMX).status_code == 200
    tasks.train_gate(federation.gate_trainings.get().pk)
    finished = client_logged_in.get(f"/federation/{federation.pk}/gate/", **HTMX)
    assert finished.status_code == 286 and finished["HX-Refresh"] == "true"
    assert "Federated Model (Ready)" in client_logged_in.get(f"/federation/{federation.pk}/").content.decode()


def test_sequential_run_shows_every_stage(client_logged_in, fed, make_federation, texts):
    federation = make_federation("sequential")
    form = {"prompt": texts.retailer_prompt, "max_new_tokens": "8", "temperature": "0", "seed": "0"}
    client_logged_in.post(f"/federation/{federation.pk}/infer/", form, **HTMX)
    run = InferenceRun.objects.get()
    tasks.run_inference(run.pk)
    body = client_logged_in.get(f"/federation/runs/{run.pk}/", **HTMX).content.decode()
    stages = body[body.index('data-testid="stages"') :]
    assert stages.count("<tr><td>") == 2 and "amazon_schema v1" in stages and "planning v1" in stages
