"""One behaviour, four doors: deleting a mapping draft and importing a federation config give the same result and
the same refusal through the page, the API, manage.py and the Python facade (the rules live in the services)."""

from __future__ import annotations

import json
from io import StringIO

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command

from federation import config_io
from federation.models import Federation
from rmnconsole.core.errors import ServiceError
from rmnconsole.models import ApiToken, AuditEvent

pytestmark = pytest.mark.django_db
DOORS = ["page", "api", "manage.py", "facade"]


def _page_error(response) -> str:
    """The red banners of the page the form redirected to (followed, so each request reads only its own)."""
    assert response.redirect_chain and response.status_code == 200
    return " ".join(m.message for m in response.context["messages"] if m.level_tag == "error")


def delete_draft(door: str, client, user, mapping_id: int) -> str:
    """The refusal a door shows ('' when the draft was deleted)."""
    if door == "page":
        client.force_login(user)
        response = client.post(f"/datasets/mappings/{mapping_id}/delete/", follow=True)
        return _page_error(response)
    if door == "api":
        _, raw = ApiToken.issue(user)
        response = client.delete(f"/api/mappings/{mapping_id}", HTTP_AUTHORIZATION=f"Bearer {raw}")
        return "" if response.status_code == 204 else f"{response.status_code} {response.json()['detail']}"
    if door == "manage.py":
        try:
            call_command("delete_mapping_draft", str(mapping_id), "--user", user.username, stdout=StringIO())
        except CommandError as exc:
            return str(exc)
        return ""
    from rmnconsole import console

    try:
        console.delete_mapping_draft(mapping_id, user=user.username)
    except ServiceError as exc:
        return exc.message
    return ""


@pytest.mark.parametrize("door", DOORS)
def test_only_staff_delete_a_mapping_draft_through_every_door(door, client, world):
    draft = world.mapping
    refusal = delete_draft(door, client, world.user, draft.pk)
    assert refusal.endswith("Only staff can delete mapping drafts."), refusal
    if door == "api":
        assert refusal.startswith("403 ")
    assert type(draft).objects.filter(pk=draft.pk).exists()
    assert delete_draft(door, client, world.staff, draft.pk) == ""
    assert not type(draft).objects.filter(pk=draft.pk).exists()
    assert AuditEvent.objects.get(action="mapping.delete").actor == world.staff


def import_config(door: str, client, user, raw: bytes, name: str, tmp_path) -> str:
    """The refusal a door shows ('' when the federation was imported)."""
    if door == "page":
        client.force_login(user)
        upload = SimpleUploadedFile("fed.json", raw, content_type="application/json")
        response = client.post("/federation/import/", {"config_file": upload, "name": name}, follow=True)
        return _page_error(response)
    if door == "api":
        _, raw_token = ApiToken.issue(user)
        response = client.post(
            f"/api/federations/import?name={name}",
            raw,
            content_type="application/json",
            HTTP_AUTHORIZATION=f"Bearer {raw_token}",
        )
        return "" if response.status_code == 201 else f"{response.status_code} {response.json()['detail']}"
    file = tmp_path / "fed.json"
    file.write_bytes(raw)
    if door == "manage.py":
        try:
            call_command(
                "import_federation", str(file), "--name", name, "--user", user.username, stdout=StringIO()
            )
        except CommandError as exc:
            return str(exc)
        return ""
    from rmnconsole import console

    try:
        console.import_federation(file, name=name, user=user)
    except ServiceError as exc:
        return exc.message
    return ""


@pytest.mark.parametrize("door", DOORS)
def test_import_federation_config_gives_the_same_result_and_refusals_through_every_door(
    door, client, world, settings, tmp_path
):
    exported = config_io.export_config(world.federation)
    settings.RMN_MAX_FEDERATION_CONFIG_MB = (
        1  # under the 2 MB request-body cap, so every door reaches the rule
    )
    padded = json.dumps({**exported, "notes": "x" * (1024 * 1024)}).encode()
    refusal = import_config(door, client, world.user, padded, "fed-big", tmp_path)
    assert "The config is larger than 1 MB" in refusal, refusal
    if door == "api":
        assert refusal.startswith("413 ")

    altered = {**exported, "members": [{**exported["members"][0], "sha256": "0" * 64}]}
    refusal = import_config(door, client, world.user, json.dumps(altered).encode(), "fed-altered", tmp_path)
    assert "has different weights than the exported one (sha256 differs)" in refusal, refusal
    assert Federation.objects.count() == 1

    # A NUL inside an uploaded file never reaches PostgreSQL (the API's body guard answers before the service).
    nul = {**exported, "members": [{**exported["members"][0], "prompt_template": "a\u0000b {input}"}]}
    refusal = import_config(door, client, world.user, json.dumps(nul).encode(), "fed-nul", tmp_path)
    assert "NUL" in refusal, refusal
    assert Federation.objects.count() == 1

    assert import_config(door, client, world.user, json.dumps(exported).encode(), "fed-copy", tmp_path) == ""
    copy = Federation.objects.get(name="fed-copy")
    assert (copy.method, copy.base_model, copy.options) == (
        world.federation.method,
        world.federation.base_model,
        world.federation.options,
    )
    assert [(m.adapter, m.weight, m.role) for m in copy.ordered_members()] == [
        (m.adapter, m.weight, m.role) for m in world.federation.ordered_members()
    ]
    assert AuditEvent.objects.get(action="federation.import").actor == world.user
