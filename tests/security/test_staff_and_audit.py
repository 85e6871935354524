"""Destructive actions need staff (others get 403 and nothing changes); every start / cancel / delete / activate
leaves an audit row that admins can read and nobody can edit or delete."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from django.contrib.messages import get_messages

from rmnconsole.models import ApiToken, AuditEvent
from tests.security.world import World, diff, snapshot

pytestmark = pytest.mark.django_db


def _clear_epoch() -> int:
    from federation import inference_worker as worker

    return int(worker.redis_connection().get(worker.CLEAR_EPOCH_KEY) or 0)


@dataclass
class Destructive:
    id: str
    api: tuple[str, str]  # method, path
    page: str  # the HTML form's POST target
    gone: Any  # world -> bool: the thing was destroyed
    action: str  # the audit action a staff member's call records
    refusal: str  # the exact message a non-staff caller reads, on the API and on the page
    ok_status: int = 204  # what the API answers a staff member
    form: dict | None = None


DESTRUCTIVE = [
    Destructive(
        "delete-dataset",
        ("delete", "/api/datasets/{dataset}"),
        "/datasets/library/{dataset}/delete/",
        lambda w: not type(w.dataset).objects.filter(pk=w.dataset.pk).exists(),
        "dataset.delete",
        "Only staff can delete datasets.",
        form={"confirm": "world"},
    ),
    Destructive(
        "delete-mapping",
        ("delete", "/api/mappings/{mapping}"),
        "/datasets/mappings/{mapping}/delete/",
        lambda w: not type(w.mapping).objects.filter(pk=w.mapping.pk).exists(),
        "mapping.delete",
        "Only staff can delete mapping drafts.",
    ),
    Destructive(
        "delete-federation",
        ("delete", "/api/federations/{federation}"),
        "/federation/{federation}/delete/",
        lambda w: not type(w.federation).objects.filter(pk=w.federation.pk).exists(),
        "federation.delete",
        "Only admins can delete a federation.",
    ),
    Destructive(
        "delete-adapter",
        ("delete", "/api/adapters/{adapter}"),
        "/training/adapters/{adapter}/delete/",
        lambda w: (
            not type(w.adapter).objects.filter(pk=w.adapter.pk).exists() and not w.adapter.abs_path().exists()
        ),
        "adapter.delete",
        "Only staff can delete adapters.",
    ),
    Destructive(
        "clear-model-cache",
        ("post", "/api/inference/cache/clear"),
        "/federation/cache/clear/",
        lambda w: _clear_epoch() > 0,
        "federation.cache_clear",
        "Only admins can clear the model cache.",
        ok_status=200,
    ),
]


def _prepare(case: Destructive, world: World) -> tuple[str, str]:
    method, path = case.api
    return method, path.format_map(world.ids()), case.page.format_map(world.ids())


@pytest.mark.parametrize("case", DESTRUCTIVE, ids=lambda c: c.id)
def test_non_staff_gets_403_and_nothing_changes(case, client, world, user):
    method, api_path, page = _prepare(case, world)
    epoch = _clear_epoch()
    _, raw = ApiToken.issue(user)
    before = snapshot(world.root)
    response = getattr(client, method)(api_path, HTTP_AUTHORIZATION=f"Bearer {raw}")
    assert response.status_code == 403, response.content
    assert response.json()["detail"] == case.refusal
    client.force_login(user)
    page_response = client.post(page, case.form or {})
    assert page_response.status_code == 302  # back to a page that shows the refusal in a red banner
    errors = [m.message for m in get_messages(page_response.wsgi_request) if m.level_tag == "error"]
    assert [e for e in errors if case.refusal in e], errors
    assert not case.gone(world) and _clear_epoch() == epoch
    assert diff(before, snapshot(world.root)) == []
    assert not AuditEvent.objects.filter(action=case.action).exists()


@pytest.mark.parametrize("case", DESTRUCTIVE, ids=lambda c: c.id)
def test_staff_can_and_it_is_audited(case, client, world, staff_user, django_capture_on_commit_callbacks):
    method, api_path, _page = _prepare(case, world)
    _, raw = ApiToken.issue(staff_user)
    with django_capture_on_commit_callbacks(execute=True):  # files go when the delete commits
        response = getattr(client, method)(api_path, HTTP_AUTHORIZATION=f"Bearer {raw}")
    assert response.status_code == case.ok_status, response.content
    assert case.gone(world)
    event = AuditEvent.objects.get(action=case.action)
    assert event.actor == staff_user and event.summary


@pytest.mark.parametrize("case", DESTRUCTIVE, ids=lambda c: c.id)
def test_staff_page_form_works_too(case, client, world, staff_user, django_capture_on_commit_callbacks):
    _method, _api, page = _prepare(case, world)
    client.force_login(staff_user)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(page, case.form or {})
    assert response.status_code == 302
    assert case.gone(world), [m.message for m in get_messages(response.wsgi_request)]
    assert AuditEvent.objects.filter(action=case.action, actor=staff_user).count() == 1


def test_adapter_in_a_federation_cannot_be_deleted(client, world, staff_user):
    _, raw = ApiToken.issue(staff_user)
    adapter = world.federation.members.get().adapter
    response = client.delete(f"/api/adapters/{adapter.pk}", HTTP_AUTHORIZATION=f"Bearer {raw}")
    assert response.status_code == 409 and "world-fed" in response.json()["detail"]
    assert adapter.abs_path().is_dir() and type(adapter).objects.filter(pk=adapter.pk).exists()
    assert not AuditEvent.objects.filter(action="adapter.delete").exists()


def test_training_cancel_needs_staff_or_the_creator(client, world, django_user_model):
    from training.services import cancel_training_job

    job = world.job
    type(job).objects.filter(pk=job.pk).update(status="queued")
    other = django_user_model.objects.create_user("outsider", password="outsider-pass-1")
    _, raw = ApiToken.issue(other)
    response = client.post(f"/api/training/jobs/{job.pk}/cancel", HTTP_AUTHORIZATION=f"Bearer {raw}")
    assert response.status_code == 403
    job.refresh_from_db()
    assert job.status == "queued"
    cancel_training_job(job.pk, world.user)
    event = AuditEvent.objects.get(action="training.cancel")
    assert event.actor == world.user and event.object_id == str(job.pk)


def test_start_cancel_activate_are_audited_across_apps(world, user, staff_user):
    """One row per verb, naming who did it: the audit trail the admin shows."""
    from datasets_app.mappings.services import activate_mapping
    from federation.abtests import create_abtest
    from federation.gates import cancel_gate_training
    from federation.models import GateTraining
    from federation.runs import submit_inference
    from federation.services import MemberInput, create_federation

    world.dataset
    activate_mapping(world.mapping, user=staff_user, force=True)
    fed = world.federation
    submit_inference(fed, "Plan a budget.", user=user, enqueue=False)
    other = create_federation(
        name="other", base_model=world.base, members=[MemberInput(world.adapter, 0.5)], user=user
    )
    create_abtest(federation_a=fed, federation_b=other, prompts_text="hi", user=user)
    gated = GateTraining.objects.create(
        federation=fed, federation_version=fed.version, total_steps=5, learning_rate=1e-3
    )
    cancel_gate_training(gated, user)
    from training.services import submit_training_job

    submit_training_job(
        adapter_type="retailer", adapter_name="audited", base_model=world.base, dataset=world.dataset.pk,
        quality_override=True, config={"max_steps": 2}, user=user,
    )  # fmt: skip
    actions = dict(AuditEvent.objects.values_list("action", "actor__username"))
    for action, actor in {
        "dataset.register": "analyst",
        "training.start": "analyst",
        "mapping.activate": "lead",
        "federation.create": "analyst",
        "federation.infer": "analyst",
        "federation.abtest.start": "analyst",
        "federation.gate_training.cancel": "analyst",
    }.items():
        assert actions.get(action) == actor, (action, actions)


def test_audit_log_is_admin_visible_and_append_only(client, staff_user, world):
    from rmnconsole.core import audit

    event = audit.record(staff_user, "dataset.delete", world.dataset, "Deleted world v1")
    client.force_login(staff_user)
    listing = client.get("/admin/rmnconsole/auditevent/")
    assert listing.status_code == 200 and b"Deleted world v1" in listing.content
    assert client.get(f"/admin/rmnconsole/auditevent/{event.pk}/delete/").status_code == 403
    client.post(
        "/admin/rmnconsole/auditevent/",
        {"action": "delete_selected", "_selected_action": [event.pk], "post": "yes"},
    )
    assert AuditEvent.objects.filter(pk=event.pk).exists()
    change = client.post(f"/admin/rmnconsole/auditevent/{event.pk}/change/", {"summary": "nothing happened"})
    assert change.status_code == 403  # the audit log is read-only, even for staff
    event.refresh_from_db()
    assert event.summary == "Deleted world v1"
