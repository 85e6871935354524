"""A negative member weight subtracts an adapter: refused unless the caller says 'subtract', then shown as a warning."""

from __future__ import annotations

import pytest
from django.urls import reverse

from federation.services import MemberInput, create_federation
from rmnconsole.core.errors import ServiceError

pytestmark = pytest.mark.django_db


def test_negative_weight_needs_the_subtract_intent(fed, client_logged_in):
    members = [MemberInput(fed.retailer, 1.0, "retailer"), MemberInput(fed.task, -0.5, "task")]
    with pytest.raises(ServiceError) as err:
        create_federation(name="minus-task", base_model=fed.llama, members=members)
    assert err.value.field == "members" and "subtract" in err.value.message
    federation = create_federation(name="minus-task", base_model=fed.llama, members=members, subtract=True)
    assert sorted(m.weight for m in federation.members.all()) == [-0.5, 1.0]
    html = client_logged_in.get(reverse("federation:detail", args=[federation.pk])).content.decode()
    assert "data-subtracts" in html and "weight -0.5" in html


def test_the_api_refuses_a_silent_minus(fed, client, api_headers):
    body = {
        "name": "api-minus",
        "base_model": "tiny-llama",
        "members": [{"adapter": "amazon_schema", "weight": -1.0, "role": "retailer"}],
    }
    refused = client.post("/api/federations", body, content_type="application/json", **api_headers)
    assert refused.status_code == 400 and "subtract" in refused.json()["detail"]
    accepted = client.post(
        "/api/federations", {**body, "subtract": True}, content_type="application/json", **api_headers
    )
    assert accepted.status_code == 201, accepted.json()
