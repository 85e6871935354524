"""Federation pages: create + list, the composition stack with its test panel and metrics, A/B tests (HTMX)."""

from __future__ import annotations

from collections.abc import Callable

from django.contrib import messages
from django.http import FileResponse, JsonResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from federation import abtests, config_io, gates, runs, services
from federation import inference_worker as worker
from federation import performance as metrics
from federation.evaluation.models import EvalSuite
from federation.forms import ABTestForm, FederationForm, ImportForm, InferenceForm
from federation.models import ABTest, Federation
from rmnconsole.core.errors import ServiceError
from rmnconsole.core.pages import not_found_as_404, show_refusal, stop_polling_when

# Median per-token latency of gated (X-LoRA) over additive unmerged, from benchmarks/federation_latency.py on CPU;
# the report measured ~30× through the console. Rerun the benchmark on new hardware and update.
GATED_SLOWDOWN = 30


def _federation(federation_id: int) -> Federation:
    with not_found_as_404():
        return services.get_federation(federation_id)


def _cache_states() -> list[dict]:
    try:
        return worker.cache_states()
    except Exception:
        return []


def index(request):
    form = FederationForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            federation = services.create_federation(
                name=form.cleaned_data["name"],
                base_model=form.cleaned_data["base_model"],
                members=form.members(),
                method=form.cleaned_data["method"],
                options=form.options(),
                user=request.user,
                subtract=form.cleaned_data.get("subtract", False),
            )
        except ServiceError as exc:
            show_refusal(form, exc)
        else:
            messages.success(request, f"Federation {federation.name} created.")
            return redirect("federation:detail", federation_id=federation.pk)
    context = {
        "form": form,
        "gated_slowdown": GATED_SLOWDOWN,
        "import_form": ImportForm(),
        "federations": Federation.objects.select_related("base_model").prefetch_related("members__adapter"),
        "cache_states": _cache_states() if request.user.is_staff else [],
    }
    return render(request, "federation/index.html", context, status=400 if form.errors else 200)


def _stack(federation: Federation) -> list[dict]:
    return [
        {
            "role": m.get_role_display(),
            "label": m.adapter.label,
            "size": metrics.compact_bytes(metrics.adapter_size_bytes(m.adapter)),
            "rank": m.adapter.rank,
            "weight": m.weight,
            "template": m.prompt_template,
        }
        for m in federation.ordered_members()
    ]


def _metrics_context(federation: Federation) -> dict:
    numbers = metrics.federation_metrics(federation)
    return {
        "federation": federation,
        "numbers": numbers,
        "base_size": metrics.human_bytes(numbers["base_bytes"]),
        "base_size_compact": metrics.compact_bytes(numbers["base_bytes"]),
        "adapter_size": metrics.human_bytes(numbers["adapter_bytes"]),
        "total_size": metrics.human_bytes(numbers["total_bytes"]),
        "runs": federation.runs.all()[:50],
    }


def detail(request, federation_id: int):
    federation = _federation(federation_id)
    context = {
        **_metrics_context(federation),
        "stack": _stack(federation),
        "approximate": services.is_approximate(federation),
        "gate_training": federation.gate_trainings.order_by("-pk").first(),
        "infer_form": InferenceForm(),
        "subtracted": [s for s in _stack(federation) if s["weight"] < 0],
        "eval_suites": EvalSuite.objects.all()[:200],
        "eval_runs": federation.eval_runs.select_related("suite")[:10],
    }
    return render(request, "federation/detail.html", context)


@require_GET
def metrics_panel(request, federation_id: int):
    return render(request, "federation/metrics_panel.html", _metrics_context(_federation(federation_id)))


@require_GET
def gate_progress(request, federation_id: int):
    federation = _federation(federation_id)
    training = federation.gate_trainings.order_by("-pk").first()
    response = render(
        request, "federation/gate_progress.html", {"federation": federation, "gate_training": training}
    )
    # The page was drawn while training ran: reload it so the test panel and stack show the new state.
    finished = request.htmx and (training is None or not training.is_active)
    return stop_polling_when(finished, response, {"HX-Refresh": "true"})


@require_POST
def infer(request, federation_id: int):
    federation = _federation(federation_id)
    form = InferenceForm(request.POST)
    if not form.is_valid():
        return render(
            request, "federation/run_form_errors.html", {"form": form}, status=200 if request.htmx else 400
        )
    try:
        run = runs.submit_inference(federation, user=request.user, **form.cleaned_data)
    except ServiceError as exc:
        # htmx swaps only 2xx responses: the error partial must arrive as 200 to be shown.
        return render(
            request,
            "federation/run_form_errors.html",
            {"error": exc.message},
            status=200 if request.htmx else exc.status,
        )
    if not request.htmx:
        return redirect("federation:detail", federation_id=federation.pk)
    return render(request, "federation/run_result.html", {"run": run})


@require_GET
def run_result(request, run_id: int):
    with not_found_as_404():
        run = runs.get_run(run_id)
    response = render(request, "federation/run_result.html", {"run": run})
    # HX-Trigger: the metrics panel reloads itself.
    return stop_polling_when(run.is_finished and request.htmx, response, {"HX-Trigger": "run-finished"})


def _on_federation(request, federation_id: int, action: Callable[[Federation], object], done: str):
    """Run a service action on the federation and come back to its page: `done` on success, a red banner if refused."""
    try:
        action(_federation(federation_id))
        messages.success(request, done)
    except ServiceError as exc:
        messages.error(request, exc.message)
    return redirect("federation:detail", federation_id=federation_id)


@require_POST
def retrain_gate(request, federation_id: int):
    return _on_federation(
        request,
        federation_id,
        lambda federation: gates.start_gate_training(federation, user=request.user),
        "Gate training queued; the federation gets a new version when it finishes.",
    )


@require_POST
def cancel_gate(request, federation_id: int):
    def cancel_latest(federation: Federation) -> None:
        training = federation.gate_trainings.order_by("-pk").first()
        if training is None:
            raise ServiceError("There is no gate training to cancel.")
        gates.cancel_gate_training(training, request.user)

    return _on_federation(request, federation_id, cancel_latest, "Gate training cancelled.")


@require_POST
def delete(request, federation_id: int):
    federation = _federation(federation_id)
    try:
        services.delete_federation(federation, request.user)
    except ServiceError as exc:
        messages.error(request, exc.message)
        return redirect("federation:detail", federation_id=federation_id)
    messages.success(request, f"Federation {federation.name} deleted.")
    return redirect("federation:index")


@require_GET
def export_json(request, federation_id: int):
    federation = _federation(federation_id)
    response = JsonResponse(config_io.export_config(federation), json_dumps_params={"indent": 2})
    response["Content-Disposition"] = (
        f'attachment; filename="{config_io.export_slug(federation)}-v{federation.version}.json"'
    )
    return response


@require_POST
def export_adapter(request, federation_id: int):
    federation = _federation(federation_id)
    try:
        archive = config_io.export_composed_adapter(federation, request.user)
    except ServiceError as exc:
        messages.error(request, exc.message)
        return redirect("federation:detail", federation_id=federation_id)
    return FileResponse(archive.open("rb"), as_attachment=True, filename=archive.name)


@require_POST
def import_config(request):
    form = ImportForm(request.POST, request.FILES)
    if not form.is_valid():
        messages.error(request, "Choose a config file or paste its JSON.")
        return redirect("federation:index")
    upload = form.cleaned_data.get("config_file")
    # Read one byte past the cap, so an oversize upload is refused without reading all of it.
    raw = (
        upload.read(config_io.max_config_bytes() + 1) if upload else form.cleaned_data.get("config_text", "")
    )
    try:
        federation = config_io.import_config_file(
            raw, user=request.user, name=form.cleaned_data.get("name") or None
        )
    except ServiceError as exc:
        messages.error(request, f"Import failed: {exc.message}")
        return redirect("federation:index")
    messages.success(request, f"Federation {federation.name} imported.")
    return redirect("federation:detail", federation_id=federation.pk)


@require_POST
def clear_cache(request):
    try:
        epoch = runs.request_cache_clear(request.user)
        messages.success(request, f"Model cache clear sent to the inference workers (request {epoch}).")
    except ServiceError as exc:
        messages.error(request, exc.message)
    return redirect("federation:index")


def abtest_list(request):
    form = ABTestForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            test = abtests.create_abtest(
                federation_a=data["federation_a"],
                federation_b=data["federation_b"],
                name=data.get("name") or "",
                prompts_text=data.get("prompts_text") or "",
                dataset_path=data.get("dataset_path") or "",
                suite=data.get("suite"),
                limit=data["limit"],
                max_new_tokens=data.get("max_new_tokens"),
                seed=data["seed"],
                user=request.user,
            )
        except ServiceError as exc:
            show_refusal(form, exc)
        else:
            return redirect("federation:abtest", abtest_id=test.pk)
    tests = ABTest.objects.select_related("federation_a", "federation_b")[:100]
    return render(
        request, "federation/abtests.html", {"form": form, "tests": tests}, status=400 if form.errors else 200
    )


def abtest_detail(request, abtest_id: int):
    with not_found_as_404():
        test = abtests.get_abtest(abtest_id)
    template = "federation/abtest_body.html" if request.htmx else "federation/abtest_detail.html"
    response = render(request, template, {"test": test})
    return stop_polling_when(request.htmx and test.is_finished, response)
