"""Chromium on the job page of a running job, served by daphne (the console's ASGI app) in its own process.

The worker-side writes are the real ones (`write_progress`, `append_log`, `finish`), called from the test so that
each step is deterministic. Cost: 55-110 s measured on the shared 2-core machine at load 13-19 (most of it daphne's
start and Chromium's; the page itself 11-43 s, of which the reconnect backoff is a few seconds)."""

from __future__ import annotations

import re
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import worker_env
from tests.e2e.conftest import PASSWORD
from tests.support.ports import free_port

pytestmark = pytest.mark.django_db(transaction=True)
REPO = Path(__file__).resolve().parents[2]
POLLING = re.compile(r"/api/training/jobs/\d+/metrics|/training/jobs/\d+/progress/")


@pytest.fixture
def asgi_server(settings, tmp_path):
    """daphne serving rmnconsole.asgi on this test's database, Redis and data root; yields its base URL."""
    port = free_port()
    env = {
        **worker_env(settings),
        "CHARTJS_URL": "/static/vendor/chartjs/chart.umd.min.js",  # the npm copy: no CDN here
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
    }
    log = tmp_path / "daphne.log"
    with open(log, "w") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port), "rmnconsole.asgi:application"],
            cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(240):
            if proc.poll() is not None:
                pytest.fail(f"daphne exited: {log.read_text()[-3000:]}")
            try:
                with urllib.request.urlopen(f"{url}/accounts/login/", timeout=2):
                    break
            except OSError:
                time.sleep(0.25)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()


def _progress(job, step: int, loss: float, line: str) -> None:
    from training.engine.callback import MetricPoint, Progress
    from training.worker_sync import write_progress

    assert write_progress(
        job.pk,
        Progress(
            step=step, total_steps=100, epoch=step / 100, tokens_per_second=1000.0 + step, eta_seconds=100.0 - step,
            num_tokens=step * 64, metrics=[MetricPoint(step=step, loss=loss)], log_lines=[line],
        ),
    )  # fmt: skip


def _no_request_for_two_poll_periods(page, polls: list[str]) -> None:
    """Live means silent: a polling page (training.js POLL_MS = 2 s) would read in this window."""
    before = len(polls)
    page.wait_for_timeout(4500)
    assert polls[before:] == [], polls[before:]


def _chart(page) -> dict:
    return page.evaluate(
        "() => { const c = document.getElementById('loss-chart'); const chart = Chart.getChart(c);"
        " return {steps: chart.data.datasets[0].data.map(p => p.x), done: c.dataset.done === 'true',"
        " log: document.getElementById('job-log').textContent,"
        " state: (document.getElementById('live-status') || {dataset: {}}).dataset.liveState}; }"
    )


def test_the_job_page_grows_live_without_polling_and_falls_back_when_the_socket_drops(
    page, asgi_server, e2e_user, django_user_model
):
    from training.models import FoundationModel, TrainingJob
    from training.worker_sync import append_log

    base = FoundationModel.objects.create(name="live-e2e-base", source="live-e2e-base", family="llama")
    job = TrainingJob.objects.create(
        adapter_type="task", adapter_name="live_e2e", base_model=base, training_type="sft",
        status="running", total_steps=100, created_by=e2e_user,
    )  # fmt: skip
    _progress(job, 1, 3.0, "warming up")

    polls: list[str] = []
    page.on("request", lambda request: POLLING.search(request.url) and polls.append(request.url))
    # The socket goes through Playwright's WebSocket route, so the test can cut it and refuse new ones.
    sockets = {"allow": True, "open": []}

    def route(ws):
        if not sockets["allow"]:
            ws.close(code=1011, reason="refused by the test")
            return
        ws.connect_to_server()
        sockets["open"].append(ws)

    page.route_web_socket(re.compile(r"/ws/live/"), route)
    page.set_default_timeout(60_000)
    page.goto(f"{asgi_server}/accounts/login/")
    page.fill("#id_username", e2e_user.username)
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{asgi_server}/")
    page.goto(f"{asgi_server}/training/jobs/{job.pk}/")
    page.wait_for_selector("#live-status[data-live-state=live]")
    page.wait_for_function("() => document.getElementById('loss-chart').dataset.points === '1'")
    page.click("summary:has-text('Logs')")
    catch_up = len(polls)  # the read of the database when the socket opened (progress card + metrics)
    assert catch_up >= 2 and any("/metrics" in url for url in polls), polls

    # Live: the curve, the cards and the log grow from pushed events, with no request at all.
    for step in (2, 3, 4):
        _progress(job, step, 3.0 - step / 10, f"live line {step}")
    append_log(job.pk, "a log line on its own")
    page.wait_for_function("() => document.getElementById('loss-chart').dataset.points === '4'")
    page.wait_for_function(
        "() => document.getElementById('job-log').textContent.includes('a log line on its own')"
    )
    # No polling while live: a poll reads the metrics too. One progress read may heal a log gap, when the catch-up
    # swap of the card lands after a held event's fragment (training.js appendLog re-reads on a gap).
    extra = polls[catch_up:]
    assert not any("/metrics" in url for url in extra) and len(extra) <= 1, extra
    _no_request_for_two_poll_periods(page, polls)
    assert page.inner_text("[data-live-field=step]") == "4 / 100"
    assert page.inner_text("[data-live-field=tokens_per_second]") == "1004"

    # A forced disconnect: the server side of the socket closes and new sockets are refused.
    sockets["allow"] = False
    for ws in sockets["open"]:
        ws.close(code=1012, reason="cut by the test")
    page.wait_for_selector("#live-status[data-live-state=polling]")
    assert "interrupted" in page.inner_text("#live-status")
    for step in (5, 6):
        _progress(job, step, 2.5 - step / 10, f"while down {step}")
    page.wait_for_function("() => document.getElementById('loss-chart').dataset.points === '6'")  # by polling
    assert len(polls) > catch_up

    # Back: the page reconnects, reads what it missed once, and is live again.
    sockets["allow"] = True
    page.wait_for_selector("#live-status[data-live-state=live]")
    for step in (7, 8):
        _progress(job, step, 2.0 - step / 10, f"live again {step}")
    page.wait_for_function("() => document.getElementById('loss-chart').dataset.points === '8'")
    state = _chart(page)
    assert state["steps"] == list(range(1, 9))  # no lost point, no duplicate
    job.refresh_from_db()
    page.wait_for_function("() => document.getElementById('job-log').textContent.includes('live again 8')")
    assert _chart(page)["log"] == job.log  # each log fragment exactly once
    # Silent again once live (the last poll and the catch-up read may still be in flight as the socket comes back).
    _no_request_for_two_poll_periods(page, polls)

    # The final status arrives as an event: the page reads the card once and stops.
    job.finish(TrainingJob.Status.COMPLETED, "Adapter live_e2e v1 registered")
    page.wait_for_function("() => document.getElementById('loss-chart').dataset.done === 'true'")
    page.wait_for_selector("#job-progress [data-status=completed]")
