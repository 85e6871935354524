"""Sweep pages: the list with the sweep form, a sweep's page with its trials live, and cancel."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from rmnconsole.core.errors import ServiceError
from rmnconsole.core.pages import not_found_as_404, stop_polling_when
from training import services as training_services
from training.sweeps import services
from training.sweeps.forms import SweepForm, around_job
from training.sweeps.models import Sweep

SPEC_FIELDS = set(SweepForm.base_fields)


def _page(request, form: SweepForm, around=None, status: int = 200) -> HttpResponse:
    context = {
        "form": form,
        "sweeps": Sweep.objects.select_related("base_model", "best_adapter")[:25],
        "around": around,
        "section": "sweeps",
    }
    return render(request, "training/sweeps/index.html", context, status=status)


def index(request):
    """GET: the sweep form (prefilled by ?around=JOB, "Sweep around this"); POST: start the sweep."""
    if request.method != "POST":
        around = None
        initial = {}
        if request.GET.get("around"):
            with not_found_as_404():
                around = training_services.get_job(request.GET["around"])
            initial = around_job(around)
        return _page(request, SweepForm(initial=initial), around)
    form = SweepForm(request.POST)
    if not form.is_valid():
        return _page(request, form, status=400)
    try:
        sweep = services.start_sweep(form.spec(), request.user)
    except ServiceError as exc:
        form.add_error(exc.field if exc.field in SPEC_FIELDS else None, exc.message)
        return _page(request, form, status=exc.status)
    messages.success(
        request, f"Sweep #{sweep.pk} ({sweep.name}) started: {sweep.trials.count()} trial(s) submitted."
    )
    return redirect("training:sweep_detail", sweep_id=sweep.pk)


def _context(sweep: Sweep) -> dict:
    return {"sweep": sweep, "summary": services.sweep_summary(sweep), "section": "sweeps"}


def detail(request, sweep_id: int):
    with not_found_as_404():
        sweep = services.get_sweep(sweep_id)
        context = _context(sweep)  # its Optuna study may be missing too
    return render(request, "training/sweeps/detail.html", context)


def progress(request, sweep_id: int):
    """HTMX polling partial: trials, best so far and chart data; 286 once the sweep has ended (polling stops)."""
    with not_found_as_404():
        sweep = services.get_sweep(sweep_id)
        context = _context(sweep)
    response = render(request, "training/sweeps/progress.html", context)
    finished = sweep.is_finished and not sweep.trials.filter(status__in=sweep.trials.model.ACTIVE).exists()
    return stop_polling_when(finished, response)


@require_POST
def cancel(request, sweep_id: int):
    try:
        sweep = services.cancel_sweep(sweep_id, request.user)
    except ServiceError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, f"Sweep #{sweep.pk} cancelled; its running trials are stopping.")
    return redirect("training:sweep_detail", sweep_id=sweep_id)
