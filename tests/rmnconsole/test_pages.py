"""The console shell renders every section for a logged-in user."""

import pytest

pytestmark = pytest.mark.django_db

SECTIONS = ["/", "/training/", "/federation/", "/datasets/", "/monitoring/"]


@pytest.mark.parametrize("path", SECTIONS)
def test_section_renders_in_shell(client_logged_in, path):
    response = client_logged_in.get(path)
    assert response.status_code == 200
    html = response.content.decode()
    for label in ("Training", "Federation", "Datasets &amp; Mappings", "Monitoring"):
        assert f'data-nav="{label}"' in html
    assert 'class="nav-link active"' in html
    assert "htmx" in html and "X-CSRFToken" in html


def test_admin_link_only_for_staff(user, staff_user):
    from django.test import Client

    member, staff = Client(), Client()
    member.force_login(user)
    staff.force_login(staff_user)
    assert 'data-nav="Admin"' not in member.get("/").content.decode()
    assert 'data-nav="Admin"' in staff.get("/").content.decode()


def test_overview_shows_queues(client_logged_in):
    html = client_logged_in.get("/").content.decode()
    for queue in ("training", "inference", "default"):
        assert f"<code>{queue}</code>" in html
