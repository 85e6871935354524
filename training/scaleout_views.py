"""Scale-out pages: the Start Training form's live memory estimate (an HTMX partial)."""

from __future__ import annotations

from django.shortcuts import render

from training.engine.config import PARAMS, ConfigError, build_config
from training.forms import StartTrainingForm
from training.models import FoundationModel
from training.scaleout import form_estimate


def estimate_partial(request):
    """Recomputed whenever the form changes: estimate per device, the queue, and whether a worker can take it."""
    form = StartTrainingForm(request.GET)
    form.is_valid()  # only for cleaned values; missing names or datasets do not matter here
    data = getattr(form, "cleaned_data", {})
    training_type = data.get("training_type") or "sft"
    model = data.get("base_model") or FoundationModel.objects.filter(is_available=True).first()
    context: dict = {"error": ""}
    bad = {name: errors[0] for name, errors in form.errors.items() if name in PARAMS}
    if bad:
        name, message = next(iter(bad.items()))
        context["error"] = f"Fix the form to see the estimate ({name}: {message})."
    elif model is None:
        context["error"] = "No base model is available to estimate."
    else:
        try:
            config = build_config(training_type, form.config()).to_dict()
        except ConfigError as exc:
            context["error"] = f"Fix the form to see the estimate ({exc})."
        else:
            context.update(form_estimate(model, training_type, config), model=model, config=config)
    return render(request, "training/_estimate.html", context)
