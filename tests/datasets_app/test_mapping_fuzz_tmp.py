import pytest
import schemathesis
from django.core.wsgi import get_wsgi_application
from hypothesis import HealthCheck, settings
from schemathesis.checks import positive_data_acceptance

from rmnconsole.api import api

schema = schemathesis.openapi.from_dict(api.get_openapi_schema(path_prefix="/api"))
schema.app = get_wsgi_application()
schema = schema.include(path_regex=r"^/api/(mappings|sources|rmis)").exclude(path_regex=r".*/(export)$")


@pytest.fixture
def fuzz_headers(django_user_model):
    from django.core.signals import request_finished, request_started
    from django.db import close_old_connections
    from rmnconsole.models import ApiToken
    from datasets_app import mapping_services as svc
    svc.seed_demo(rows=200)
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
    case.call_and_validate(headers=fuzz_headers, excluded_checks=[positive_data_acceptance])
