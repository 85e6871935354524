"""Mappings: only staff or a version's creator edits or activates it (every door goes through the service), each
change is audited, and a non-staff user cannot replace someone else's Active version."""

from __future__ import annotations

import pytest
from django.test import Client

from rmnconsole.core.errors import Forbidden
from rmnconsole.models import AuditEvent
from tests.security.world import RULES

pytestmark = pytest.mark.django_db


@pytest.fixture
def outsider(django_user_model):
    other = django_user_model.objects.create_user("outsider", "o@example.com", "outsider-pass-123")
    client = Client()
    client.force_login(other)
    return other, client


def test_another_user_cannot_edit_or_activate_a_draft(world, outsider):
    from datasets_app.mappings.services import activate_mapping, update_draft

    other, client = outsider
    draft = world.mapping
    response = client.put(
        f"/api/mappings/{draft.pk}", data={"notes": "mine now"}, content_type="application/json"
    )
    assert response.status_code == 403
    response = client.post(
        f"/api/mappings/{draft.pk}/activate", data={"force": True}, content_type="application/json"
    )
    assert response.status_code == 403
    page = client.post(f"/datasets/mappings/{draft.pk}/activate/", {"force": "on"})
    assert page.status_code in (302, 403)
    draft.refresh_from_db()
    assert draft.status == "draft" and draft.notes != "mine now"
    with pytest.raises(Forbidden):
        update_draft(draft, notes="x", user=other)
    with pytest.raises(Forbidden):
        activate_mapping(draft, user=other, force=True)


def test_the_creator_edits_and_staff_activates_each_audited(world, staff_user):
    from datasets_app.mappings.services import activate_mapping, update_draft

    draft = update_draft(world.mapping, notes="reviewed", user=world.user)
    event = AuditEvent.objects.get(action="mapping.update", object_id=str(draft.pk))
    assert event.actor == world.user and event.details["fields"] == ["notes"]
    active = activate_mapping(draft, user=staff_user, force=True)
    assert active.status == "active"
    assert AuditEvent.objects.filter(
        action="mapping.activate", actor=staff_user, object_id=str(draft.pk)
    ).exists()


def test_a_user_cannot_replace_someone_elses_active_version_through_a_new_draft(world, outsider):
    from datasets_app.mappings.services import activate_mapping, create_mapping, edit_mapping

    other, _client = outsider
    owned = create_mapping(
        name="owned", retailer="world_c", source=world.source, rules=RULES, user=world.user
    )
    activate_mapping(owned, user=world.user, force=True)
    owned.refresh_from_db()
    draft = edit_mapping(owned, user=other)  # a new draft of its own is allowed (and audited)
    assert draft.created_by == other
    assert AuditEvent.objects.filter(action="mapping.draft", object_id=str(draft.pk), actor=other).exists()
    with pytest.raises(Forbidden, match="someone else"):
        activate_mapping(draft, user=other, force=True)
    owned.refresh_from_db()
    assert owned.status == "active"
