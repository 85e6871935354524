"""The console's own pages: the overview."""

from django.shortcuts import render

from rmnconsole.health import queue_states
from training.models import FoundationModel


def home(request):
    return render(
        request,
        "rmnconsole/home.html",
        {"queues": queue_states(), "base_models": FoundationModel.objects.all()},
    )
