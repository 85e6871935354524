"""Monitoring pages: the console overview (it reads every app), the dashboard, its HTMX partials, alert acknowledgement and the Prometheus /metrics view."""

from __future__ import annotations

import hmac
import ipaddress

from django.conf import settings
from django.http import HttpResponse, HttpResponseForbidden
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_POST
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from federation.models import Federation
from monitoring import queries, services
from monitoring.engine.ranges import RANGE_CHOICES, RangeError
from monitoring.models import Alert, WorkerHost
from monitoring.prometheus import build_registry
from rmnconsole.core.errors import ServiceError
from rmnconsole.core.jobs import ACTIVE_STATUSES
from rmnconsole.health import queue_states
from training.models import Adapter, FoundationModel, TrainingJob


def home(request):
    """The console's front page ("/"): what runs, what was made, what needs attention, then queues and base models."""
    running = TrainingJob.objects.filter(status__in=ACTIVE_STATUSES).select_related("base_model")
    return render(
        request,
        "monitoring/home.html",
        {
            "queues": queue_states(),
            "base_models": FoundationModel.objects.all(),
            "running_jobs": running.order_by("-created_at")[:10],
            "running_count": running.count(),
            "recent_adapters": Adapter.objects.select_related("base_model").order_by("-created_at")[:5],
            "adapter_count": Adapter.objects.count(),
            "federations": Federation.objects.select_related("base_model").order_by("-created_at")[:5],
            "federation_count": Federation.objects.count(),
            "open_alerts": Alert.objects.unacknowledged().order_by("-last_seen")[:5],
            "open_alert_count": Alert.objects.unacknowledged().count(),
        },
    )


def _controls(request) -> dict:
    """The picker's state, from the query string (bad values fall back to the defaults)."""
    rng = request.GET.get("range", "1h")
    if rng not in RANGE_CHOICES:
        rng = "1h"
    host = request.GET.get("host", "")[:200]
    gpu_raw = request.GET.get("gpu", "")
    gpu = int(gpu_raw) if gpu_raw.isdigit() and int(gpu_raw) < 1024 else None
    loss_jobs = [
        int(x) for x in request.GET.get("loss_jobs", "").replace(",", " ").split()[:10] if x.isdigit()
    ]
    return {"range": rng, "host": host, "gpu": gpu, "loss_jobs": loss_jobs}


def _chart_payload(controls: dict) -> dict:
    try:
        samples = queries.series(
            host=controls["host"] or None, gpu=controls["gpu"], since=controls["range"], with_host_rows=True
        )
    except RangeError:
        samples = {"series": [], "bucket_seconds": 0}
    return {
        "range": controls["range"],
        "bucket_seconds": samples["bucket_seconds"],
        "series": samples["series"],
        "loss": queries.loss_curves(job_ids=controls.get("loss_jobs") or None),
        "adapters": queries.adapter_performance(),
        "evals": queries.eval_performance(),
    }


def _serving_rows() -> list[dict]:
    from federation.serving.stats import snapshot

    try:
        return snapshot()
    except Exception:  # Redis down: the cards say so elsewhere; serving figures are just absent
        return []


def _cards_context(request) -> dict:
    return {
        "serving": _serving_rows(),
        "summary": queries.summary(),
        "alerts": list(Alert.objects.active().select_related("acknowledged_by").order_by("-last_seen")[:50]),
    }


def index(request):
    controls = _controls(request)
    hosts = list(WorkerHost.objects.all())
    context = {
        **_cards_context(request),
        "controls": controls,
        "ranges": list(RANGE_CHOICES),
        "host_choices": hosts,
        "gpu_choices": sorted(
            {
                g.get("index")
                for h in hosts
                for g in [*h.gpus, *(h.latest or {}).get("gpus", [])]
                if g.get("index") is not None
            }
        ),
        "charts": _chart_payload(controls),
        "suite_leaders": queries.suite_leaders(),
        "refresh_seconds": max(2, int(float(settings.RMN_SAMPLE_INTERVAL_SECONDS))),
    }
    return render(request, "monitoring/index.html", context)


@require_GET
def cards(request):
    """HTMX partial: top cards, open alerts and worker hosts (polled)."""
    return render(request, "monitoring/_cards.html", _cards_context(request))


@require_GET
def chart_data(request):
    """HTMX partial: the chart data as JSON in a <script> tag; monitoring.js redraws the charts from it."""
    return render(request, "monitoring/_chart_data.html", {"charts": _chart_payload(_controls(request))})


@require_POST
def acknowledge(request, alert_id: int):
    try:
        alert = services.acknowledge_alert(alert_id, request.user)
    except ServiceError as exc:
        if request.htmx:
            return HttpResponse(exc.message, status=exc.status)
        from django.contrib import messages

        messages.error(request, exc.message)
        alert = None
    if request.htmx:
        # The banner swaps itself away; the dashboard's cards listen for this event and refresh.
        response = HttpResponse("")
        response["HX-Trigger"] = "rmn:alerts-changed"
        return response
    if alert is not None:
        from django.contrib import messages

        messages.success(request, f"Acknowledged: {alert.message}")
    target = request.POST.get("next") or request.META.get("HTTP_REFERER") or ""
    if not url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        target = "monitoring:index"
    return redirect(target)


def _metrics_allowed(request) -> bool:
    token = settings.RMN_METRICS_TOKEN or ""
    header = request.META.get("HTTP_AUTHORIZATION", "")
    if (
        token
        and header.startswith("Bearer ")
        and hmac.compare_digest(header[7:].strip().encode(), token.encode())
    ):
        return True
    allow = settings.RMN_METRICS_ALLOW or []
    try:
        addr = ipaddress.ip_address(request.META.get("REMOTE_ADDR", ""))
    except ValueError:
        return False
    for entry in allow:
        try:
            if addr in ipaddress.ip_network(entry, strict=False):
                return True
        except ValueError:
            continue  # a malformed allow-list entry never grants access
    return False


@require_GET
def metrics(request):
    """Prometheus text format. Allowed with `Authorization: Bearer RMN_METRICS_TOKEN` or from RMN_METRICS_ALLOW."""
    if not _metrics_allowed(request):
        if settings.RMN_METRICS_TOKEN:
            response = HttpResponse(
                "metrics: send Authorization: Bearer <RMN_METRICS_TOKEN>\n",
                status=401,
                content_type="text/plain",
            )
            response["WWW-Authenticate"] = 'Bearer realm="metrics"'
            return response
        return HttpResponseForbidden(
            "metrics: this address is not in RMN_METRICS_ALLOW\n", content_type="text/plain"
        )
    return HttpResponse(generate_latest(build_registry()), content_type=CONTENT_TYPE_LATEST)
