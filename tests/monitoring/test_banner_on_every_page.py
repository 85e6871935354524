"""Open alerts reach every console page through monitoring's context processor (base.html loads no app's tags)."""

import pytest
from django.utils import timezone

from monitoring.models import Alert

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("page", ["/", "/training/", "/datasets/"])
def test_every_page_shows_open_alerts_with_an_acknowledge_form(client_logged_in, page):
    alert = Alert.objects.create(rule="memory", key="h/gpu0", severity="critical", message="gpu0 memory 97%")
    Alert.objects.create(rule="memory", key="h/gpu1", message="acked", acknowledged_at=timezone.now())
    html = client_logged_in.get(page).content.decode()
    assert html.count('class="mon-banner"') == 1 and "gpu0 memory 97%" in html and "acked" not in html
    assert f'action="/monitoring/alerts/{alert.pk}/ack/"' in html
    assert f'name="next" value="{page}"' in html and 'name="csrfmiddlewaretoken"' in html


def test_a_page_without_open_alerts_renders_no_banner(client_logged_in):
    html = client_logged_in.get("/training/").content.decode()
    assert '<div id="alert-banners"></div>' in html
