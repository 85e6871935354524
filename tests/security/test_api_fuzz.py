"""schemathesis over the authenticated OpenAPI of /api: no server errors, responses match the schema."""

import pytest
import schemathesis
from django.core.wsgi import get_wsgi_application
from hypothesis import HealthCheck, settings
from schemathesis.checks import positive_data_acceptance

from rmnconsole.api import api

# The served /api/openapi.json needs a login, so the document is taken from the API object itself.
schema = schemathesis.openapi.from_dict(api.get_openapi_schema(path_prefix="/api"))
schema.app = get_wsgi_application()
# Endpoints that start real work on workers or stream large files are exercised by their own tests.
schema = schema.exclude(path_regex=r".*/(download|export)$")


@pytest.fixture
def fuzz_headers(django_user_model):
    from django.core.signals import request_finished, request_started
    from django.db import close_old_connections

    from rmnconsole.models import ApiToken

    # Like Django's test client: keep the test's transaction open across WSGI requests.
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)

    user = django_user_model.objects.create_user("fuzzer", password="fuzz-pass-12345", is_staff=True)
    _, raw = ApiToken.issue(user, name="fuzz")
    yield {"Authorization": f"Bearer {raw}"}
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.mark.django_db
@schema.parametrize()
@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
def test_api_never_errors(case, fuzz_headers):
    # Business rules (a name must be unique, a base model must exist) answer 400 with a message for inputs the
    # schema alone allows; that is correct behaviour, so "positive data rejected" is not a failure here.
    case.call_and_validate(headers=fuzz_headers, excluded_checks=[positive_data_acceptance])
