"""Log in through real Chromium, visit every section and see the console shell with its palette."""

import pytest

pytestmark = pytest.mark.django_db(transaction=True)

SECTIONS = {
    "Overview": "/",
    "Training": "/training/",
    "Federation": "/federation/",
    "Datasets & Mappings": "/datasets/",
    "Monitoring": "/monitoring/",
}


def test_login_and_visit_every_section(logged_in_page, live_server, screenshot):
    page = logged_in_page
    for label, path in SECTIONS.items():
        page.click(f'nav a[data-nav="{label}"]')
        page.wait_for_url(f"{live_server.url}{path}")
        assert page.locator("main h1").first.is_visible()
        active = page.locator("nav a.nav-link.active")
        assert active.get_attribute("data-nav") == label
    colours = page.evaluate(
        """() => ({
            sidebar: getComputedStyle(document.querySelector('.sidebar')).backgroundColor,
            main: getComputedStyle(document.body).backgroundColor,
            active: getComputedStyle(document.querySelector('nav a.nav-link.active')).backgroundColor,
            primary: getComputedStyle(document.documentElement).getPropertyValue('--primary').trim(),
            success: getComputedStyle(document.documentElement).getPropertyValue('--success').trim(),
        })"""
    )
    assert colours["sidebar"] == "rgb(31, 41, 55)"  # #1f2937
    assert colours["main"] == "rgb(248, 249, 250)"  # #f8f9fa
    assert colours["active"] == "rgb(59, 130, 246)"  # #3b82f6
    assert colours["primary"] == "#3b82f6" and colours["success"] == "#10b981"
    page.click('nav a[data-nav="Overview"]')
    assert screenshot(page, "console-overview").stat().st_size > 10_000


def test_admin_reachable_for_staff(logged_in_page, live_server):
    page = logged_in_page
    page.click('nav a[data-nav="Admin"]')
    page.wait_for_url(f"{live_server.url}/admin/")
    assert "Site administration" in page.content()


def test_logout_returns_to_login(logged_in_page, live_server):
    page = logged_in_page
    page.click("text=Log out")
    page.wait_for_url(f"{live_server.url}/accounts/login/")
    page.goto(f"{live_server.url}/training/")
    assert "/accounts/login/" in page.url
