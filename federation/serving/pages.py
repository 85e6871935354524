"""The Deployments page: every deployment's stages, promote / roll back in one click, canary, serving figures."""

from __future__ import annotations

from django.contrib import messages
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from federation.models import Federation
from federation.serving import broker, services, stats
from rmnconsole.core import providers
from rmnconsole.core.errors import ServiceError
from training.models import Adapter


def _target_choice(value: str) -> dict:
    """'federation:3' / 'adapter:7' from the page's one target select."""
    kind, _, pk = (value or "").partition(":")
    if kind not in ("federation", "adapter") or not pk.isdigit():
        raise ServiceError("Pick a federation or an adapter to deploy.", field="target")
    return {kind: pk}


@require_GET
def index(request):
    try:
        figures, workers = stats.snapshot(), broker.live_workers()
    except Exception:  # Redis down: the page still lists deployments
        figures, workers = [], []
    return render(
        request,
        "serving/index.html",
        {
            "deployments": services.deployment_rows(),
            "pipeline_changes": [
                {"deployment": d.name, **row}
                for d in services.Deployment.objects.all()
                for row in providers.lineage("deployment", d)
            ],
            "events": services.DeploymentEvent.objects.select_related("deployment", "actor")[:20],
            "federations": Federation.objects.filter(status=Federation.Status.READY).order_by("name"),
            "adapters": Adapter.objects.order_by("name", "-version"),
            "figures": figures,
            "workers": workers,
            "base_url": request.build_absolute_uri("/v1"),
        },
    )


def _act(request, action, done: str):
    try:
        action()
    except ServiceError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, done)
    return redirect("deployments:index")


@require_POST
def set_stage(request):
    name, stage = request.POST.get("name", ""), request.POST.get("stage", "production")

    def action():
        target = _target_choice(request.POST.get("target", ""))
        if services.Deployment.objects.filter(name=name.strip()).exists():
            services.set_target(name.strip(), stage, request.user, **target)
        else:
            services.create_deployment(name, request.user, stage=stage, **target)

    return _act(request, action, f"{name}@{stage} updated.")


@require_POST
def promote(request, name: str):
    return _act(
        request, lambda: services.promote(name, request.user), f"{name}: staging promoted to production."
    )


@require_POST
def rollback(request, name: str):
    stage = request.POST.get("stage", "production")
    return _act(
        request, lambda: services.rollback(name, request.user, stage=stage), f"{name}@{stage} rolled back."
    )


@require_POST
def canary(request, name: str):
    def action():
        raw = request.POST.get("percent", "0").strip()
        if not raw.isdigit():
            raise ServiceError("The canary share is a whole percent from 0 to 100.", field="percent")
        percent = int(raw)
        target = _target_choice(request.POST.get("target", "")) if percent else {}
        services.set_canary(
            name, request.POST.get("stage", "production"), request.user, percent=percent, **target
        )

    return _act(request, action, f"{name}: canary updated.")


@require_POST
def export(request, name: str):
    from django.http import FileResponse

    from federation.serving.exports import export_deployment

    try:
        archive = export_deployment(
            name,
            request.POST.get("format", "peft"),
            request.user,
            stage=request.POST.get("stage", "production"),
        )
    except ServiceError as exc:
        messages.error(request, exc.message)
        return redirect("deployments:index")
    return FileResponse(archive.open("rb"), as_attachment=True, filename=archive.name)


@require_POST
def delete(request, name: str):
    return _act(
        request, lambda: services.delete_deployment(name, request.user), f"Deployment {name} deleted."
    )
