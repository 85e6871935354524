"""Real headless Chromium (Debian's /usr/bin/chromium) driven by Playwright against pytest-django's live server."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

# Playwright's sync API runs an event loop in this thread; Django's ORM must still be usable from the test.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "test-artifacts"
LOCAL_CHARTJS = REPO / "var" / "npm" / "node_modules" / "chart.js" / "dist" / "chart.umd.min.js"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
PASSWORD = "e2e-pass-123456"


def pytest_collection_modifyitems(items):
    for item in items:
        if "/e2e/" in str(item.fspath):
            item.add_marker(pytest.mark.e2e)


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    if not Path(CHROMIUM).exists():
        pytest.fail("Chromium is missing: apt-get install -y chromium (the test command installs it)")
    return {
        **browser_type_launch_args,
        "executable_path": CHROMIUM,
        "headless": True,
        "args": CHROMIUM_ARGS,
        "timeout": 120_000,  # each xdist worker starts its own Chromium, sometimes all at once
    }


@pytest.fixture
def local_chartjs(settings, live_server):
    """Serve Chart.js from the npm copy (no CDN here): the same file the CDN serves."""
    if not LOCAL_CHARTJS.exists():
        pytest.fail(f"{LOCAL_CHARTJS} is missing: run `npm install --prefix var/npm chart.js@4.6.1`")
    settings.CHARTJS_URL = "/static/vendor/chartjs/chart.umd.min.js"
    settings.CHARTJS_INTEGRITY = ""
    return settings.CHARTJS_URL


@pytest.fixture
def e2e_user(django_user_model):
    return django_user_model.objects.create_user(
        "e2e", "e2e@example.com", PASSWORD, is_staff=True, is_superuser=True
    )


@pytest.fixture
def logged_in_page(page, live_server, e2e_user, local_chartjs):
    """A Chromium page logged in through the real login form."""
    # Generous: under parallel workers on a shared 2-core machine a page load can take tens of seconds; a wait
    # that passes only on an idle machine is not a test of the page.
    page.set_default_timeout(60_000)
    page.goto(f"{live_server.url}/accounts/login/")
    page.fill("#id_username", e2e_user.username)
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_server.url}/")
    return page


@pytest.fixture
def screenshot():
    """`screenshot(page, "name")` saves test-artifacts/name.png (the test artifact CI keeps)."""

    def _take(page, name: str) -> Path:
        ARTIFACTS.mkdir(exist_ok=True)
        path = ARTIFACTS / f"{name}.png"
        page.screenshot(path=str(path), full_page=True)
        return path

    return _take
