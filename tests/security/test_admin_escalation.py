"""A staff user with narrow admin permissions cannot move ownership or rights through the real admin views."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission
from django.test import Client

from rmnconsole.models import ApiToken, AuditEvent

pytestmark = pytest.mark.django_db


def limited_staff(django_user_model, *codenames: str):
    user = django_user_model.objects.create_user(
        "clerk", "clerk@example.com", "clerk-pass-123", is_staff=True
    )
    user.user_permissions.add(*Permission.objects.filter(codename__in=codenames))
    client = Client()
    client.force_login(user)
    return user, client


def test_a_token_cannot_be_reassigned_to_a_superuser(django_user_model, staff_user):
    clerk, client = limited_staff(django_user_model, "change_apitoken", "view_apitoken")
    token, raw = ApiToken.issue(clerk, name="mine")
    url = f"/admin/rmnconsole/apitoken/{token.pk}/change/"
    page = client.get(url)
    assert page.status_code == 200 and b'name="user"' not in page.content
    response = client.post(url, {"user": staff_user.pk, "name": "renamed"})
    assert response.status_code == 302, response.content[:500]
    token.refresh_from_db()
    assert token.user_id == clerk.pk and token.name == "renamed"
    me = Client().get("/api/me", HTTP_AUTHORIZATION=f"Bearer {raw}").json()
    assert me["username"] == "clerk" and me["is_staff"] is True
    event = AuditEvent.objects.get(action="admin.change", object_type="ApiToken", object_id=str(token.pk))
    assert event.actor == clerk and event.details["fields"] == ["name"]


def test_revoking_tokens_in_the_admin_is_audited(django_user_model, user):
    clerk, client = limited_staff(django_user_model, "change_apitoken", "view_apitoken")
    token, _ = ApiToken.issue(user)
    response = client.post(
        "/admin/rmnconsole/apitoken/", {"action": "revoke_tokens", "_selected_action": [token.pk]}
    )
    assert response.status_code == 302
    token.refresh_from_db()
    assert token.revoked_at is not None
    assert AuditEvent.objects.filter(action="token.revoke", object_id=str(token.pk), actor=clerk).exists()


def test_a_user_admin_cannot_grant_itself_superuser_or_take_over_a_superuser(django_user_model, staff_user):
    clerk, client = limited_staff(django_user_model, "change_user", "view_user")
    url = f"/admin/auth/user/{clerk.pk}/change/"
    assert client.get(url).status_code == 200
    client.post(url, {"username": "clerk", "is_active": "on", "is_staff": "on", "is_superuser": "on",
                      "date_joined_0": "2026-01-01", "date_joined_1": "00:00:00"})  # fmt: skip
    clerk.refresh_from_db()
    assert not clerk.is_superuser
    # Changing a superuser (its password above all) is refused.
    response = client.post(
        f"/admin/auth/user/{staff_user.pk}/password/",
        {"password1": "Taken-over-123", "password2": "Taken-over-123"},
    )
    assert response.status_code == 403
    staff_user.refresh_from_db()
    assert staff_user.check_password("lead-pass-123")


def test_a_job_admin_cannot_move_a_job_to_another_owner(django_user_model, user, tiny_base_models):
    from training.models import TrainingJob

    _clerk, client = limited_staff(django_user_model, "change_trainingjob", "view_trainingjob")
    job = TrainingJob.objects.create(
        adapter_type="retailer", adapter_name="owned", base_model=tiny_base_models["tiny-llama"],
        training_type="sft", dataset_path="datasets/x.jsonl", config={}, created_by=user,
    )  # fmt: skip
    page = client.get(f"/admin/training/trainingjob/{job.pk}/change/")
    assert page.status_code == 200
    assert b'name="created_by"' not in page.content and b'name="dataset_path"' in page.content


@pytest.mark.parametrize(
    "url_name",
    ["datasets_app/dataset", "datasets_app/datasource", "datasets_app/schemamapping", "training/adapter",
     "federation/federation", "monitoring/alert", "training/foundationmodel"],
)  # fmt: skip
def test_no_admin_form_offers_an_owner_or_a_path(staff_client, url_name):
    from django.contrib import admin

    model = next(m for m in admin.site._registry if f"{m._meta.app_label}/{m._meta.model_name}" == url_name)
    model_admin = admin.site._registry[model]
    page = staff_client.get(f"/admin/{url_name}/add/")
    fields = set(model_admin.get_readonly_fields(page.wsgi_request, None))
    names = {f.name for f in model._meta.get_fields()}
    assert {"created_by", "user", "acknowledged_by", "path", "local_path"} & names <= fields
