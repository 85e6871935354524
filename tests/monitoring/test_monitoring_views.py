"""Dashboard page, HTMX partials, acknowledge buttons and the alert-banner template tag."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.template import Context, Template
from django.test import RequestFactory
from django.utils import timezone

from monitoring import services
from monitoring.models import Alert

pytestmark = pytest.mark.django_db

CANVASES = (
    "chart-gpu-util",
    "chart-gpu-memory",
    "chart-gpu-temp",
    "chart-host",
    "chart-loss",
    "chart-adapter-quality",
    "chart-adapter-latency",
)


def chart_json(html: str) -> dict:
    start = html.index('<script id="monitor-chart-data" type="application/json">') + len(
        '<script id="monitor-chart-data" type="application/json">'
    )
    return json.loads(html[start : html.index("</script>", start)])


def test_dashboard_renders_cards_charts_and_picker(client_logged_in, record, make_job):
    record("gpu-1", timezone.now(), gpus=[(77.0, 40_960.0)])
    make_job(status="running", tokens_per_second=321.0)
    html = client_logged_in.get("/monitoring/").content.decode()
    for canvas in CANVASES:
        assert f'id="{canvas}"' in html
    assert 'data-card="throughput"' in html and "321 tok/s" in html
    assert "77%" in html and "40.0 / 78.1 GiB" in html
    assert (
        'name="range" value="24h"' in html and '<option value="gpu-1"' in html and '<option value="0"' in html
    )
    assert 'hx-get="/monitoring/cards/"' in html and 'hx-get="/monitoring/charts/"' in html
    assert "js/monitoring.js" in html and "css/monitoring.css" in html
    assert 'data-link="rq-dashboard"' not in html  # staff only
    data = chart_json(html)
    assert data["range"] == "1h" and [s["kind"] for s in data["series"]] == ["host", "gpu"]


def test_rq_dashboard_link_for_staff(staff_client):
    html = staff_client.get("/monitoring/").content.decode()
    assert 'href="/django-rq/" data-link="rq-dashboard"' in html


def test_no_gpu_host_is_explained(client_logged_in, record):
    from monitoring.models import WorkerHost

    record("laptop", timezone.now())
    WorkerHost.objects.filter(host="laptop").update(
        no_gpu_reason="No NVIDIA driver (NVML: NVML Shared Library Not Found)"
    )
    html = client_logged_in.get("/monitoring/").content.decode()
    assert "no GPU" in html and "NVML Shared Library Not Found" in html


def test_chart_partial_honours_range_and_host(client_logged_in, record):
    now = timezone.now()
    record("a", now - timedelta(hours=2), gpus=[(10.0, 1.0)])
    record("b", now, gpus=[(20.0, 1.0)])
    services.rollup_and_prune(
        now=now
    )  # what every monitor_host does each minute: 24h charts read 1-minute rows
    data = chart_json(
        client_logged_in.get("/monitoring/charts/?range=1h", HTTP_HX_REQUEST="true").content.decode()
    )
    assert {s["host"] for s in data["series"]} == {"b"}
    data = chart_json(client_logged_in.get("/monitoring/charts/?range=24h&host=a&gpu=0").content.decode())
    assert data["range"] == "24h" and data["bucket_seconds"] == 300
    assert [(s["host"], s["gpu_index"]) for s in data["series"]] == [
        ("a", None),
        ("a", 0),
    ]  # CPU/RAM stay visible
    # Nonsense picks fall back to defaults instead of failing.
    data = chart_json(client_logged_in.get("/monitoring/charts/?range=5y&gpu=x").content.decode())
    assert data["range"] == "1h"


def test_cards_partial_lists_alerts(client_logged_in):
    Alert.objects.create(
        rule="stale_heartbeat", key="job:9", severity="critical", message="Training job #9: no heartbeat"
    )
    html = client_logged_in.get("/monitoring/cards/", HTTP_HX_REQUEST="true").content.decode()
    assert "<html" not in html
    assert "Training job #9: no heartbeat" in html and "1 open" in html


def test_acknowledge_from_page_and_htmx(client_logged_in, user):
    a = Alert.objects.create(rule="memory", key="h/gpu0", message="GPU 0 memory 95%")
    b = Alert.objects.create(rule="memory", key="h/gpu1", message="GPU 1 memory 96%")
    response = client_logged_in.post(f"/monitoring/alerts/{a.pk}/ack/", {"next": "/training/"})
    assert response.status_code == 302 and response["Location"] == "/training/"
    a.refresh_from_db()
    assert a.acknowledged_by == user and a.acknowledged_at is not None and a.resolved_at is None

    htmx = client_logged_in.post(f"/monitoring/alerts/{b.pk}/ack/", HTTP_HX_REQUEST="true")
    assert htmx.status_code == 200 and htmx.content == b"" and htmx["HX-Trigger"] == "rmn:alerts-changed"
    assert client_logged_in.post(f"/monitoring/alerts/{b.pk}/ack/", HTTP_HX_REQUEST="true").status_code == 409
    evil = client_logged_in.post(f"/monitoring/alerts/{a.pk}/ack/", {"next": "https://evil.example/"})
    assert evil["Location"] == "/monitoring/"
    assert client_logged_in.get(f"/monitoring/alerts/{a.pk}/ack/").status_code == 405


def test_pages_need_login(client):
    assert client.get("/monitoring/").status_code == 302
    assert client.post("/monitoring/alerts/1/ack/").status_code == 302


def render_banners(user) -> str:
    request = RequestFactory().get("/training/")
    request.user = user
    return Template("{% load monitoring_tags %}{% active_alert_banners %}").render(
        Context({"request": request, "csrf_token": "tok"})
    )


def test_banner_tag_shows_unacknowledged_alerts_worst_first(user):
    from django.contrib.auth.models import AnonymousUser

    now = timezone.now()
    Alert.objects.create(
        rule="loss_plateau", key="job:1", severity="info", message="plateau on job 1", last_seen=now
    )
    Alert.objects.create(
        rule="stale_heartbeat",
        key="job:2",
        severity="critical",
        message="job 2 is silent",
        last_seen=now - timedelta(minutes=5),
    )
    Alert.objects.create(
        rule="memory", key="h/gpu0", severity="warning", message="acked one", acknowledged_at=now
    )
    Alert.objects.create(
        rule="memory", key="h/gpu1", severity="warning", message="resolved one", resolved_at=now
    )
    html = render_banners(user)
    assert html.index("job 2 is silent") < html.index("plateau on job 1")
    assert "acked one" not in html and "resolved one" not in html
    assert 'class="banner banner-error"' in html and 'class="banner banner-info"' in html
    assert html.count(">Acknowledge</button>") == 2 and 'value="/training/"' in html
    assert render_banners(AnonymousUser()).strip() == ""


def test_banner_tag_caps_the_list(user):
    for i in range(8):
        Alert.objects.create(rule="memory", key=f"h/gpu{i}", message=f"memory {i}")
    html = render_banners(user)
    assert html.count('class="mon-banner"') == 5 and "3 more open alerts" in html
