"""Console-wide background tasks."""

from __future__ import annotations

import socket


def refresh_base_models() -> dict:
    """Re-check where every base model's weights are, as seen from the worker host that runs this."""
    from training.model_registry import refresh_availability
    from training.models import FoundationModel

    return {
        "host": socket.gethostname(),
        "models": {m.name: refresh_availability(m).is_available for m in FoundationModel.objects.all()},
    }
