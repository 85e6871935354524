"""Use cases for the base-model registry: seed the known models, build the tiny ones, check availability."""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from rmnconsole.core.paths import MODELS, data_dir, data_root
from training.engine.model_files import check_availability
from training.engine.tiny_models import TINY_MODELS, TinyModelInfo, build_tiny_model
from training.models import FoundationModel

# The two production bases of the user guide; usable where their weights are in a local path or the HF cache.
KNOWN_MODELS = [
    {
        "name": "meta-llama/Llama-3.1-8B-Instruct",
        "family": "llama",
        "parameter_count": 8_030_261_248,
        "dtype": "bfloat16",
    },
    {
        "name": "mistralai/Mistral-7B-Instruct-v0.3",
        "family": "mistral",
        "parameter_count": 7_248_023_552,
        "dtype": "bfloat16",
    },
]


def refresh_availability(model: FoundationModel) -> FoundationModel:
    result = check_availability(model.source, data_root())
    model.is_available = result.available
    model.local_path = result.path
    model.availability_note = result.note
    model.checked_at = timezone.now()
    model.save(update_fields=["is_available", "local_path", "availability_note", "checked_at"])
    return model


def seed_known_models() -> list[FoundationModel]:
    models = []
    for spec in KNOWN_MODELS:
        model, _ = FoundationModel.objects.get_or_create(
            name=spec["name"],
            defaults={**{k: v for k, v in spec.items() if k != "name"}, "source": spec["name"]},
        )
        models.append(refresh_availability(model))
    return models


def build_and_register_tiny_models(*, steps: int = 300, force: bool = False) -> list[TinyModelInfo]:
    """Build tiny-llama and tiny-mistral under the data root (idempotent) and register them."""
    infos = []
    for name in TINY_MODELS:
        info = build_tiny_model(name, data_dir(MODELS) / name, steps=steps, force=force)
        register_local_model(
            name, info.family, f"{MODELS}/{name}", info.parameter_count, dtype="float32", is_tiny=True
        )
        infos.append(info)
    return infos


@transaction.atomic
def register_local_model(
    name: str,
    family: str,
    source: str,
    parameter_count: int,
    *,
    dtype: str = "bfloat16",
    is_tiny: bool = False,
) -> FoundationModel:
    model, _ = FoundationModel.objects.update_or_create(
        name=name,
        defaults={
            "family": family,
            "source": source,
            "parameter_count": parameter_count,
            "dtype": dtype,
            "is_tiny": is_tiny,
        },
    )
    return refresh_availability(model)


def refresh_base_models() -> dict:
    """RQ task: re-check where every base model's weights are, as seen from the worker host that runs it."""
    import socket

    return {
        "host": socket.gethostname(),
        "models": {m.name: refresh_availability(m).is_available for m in FoundationModel.objects.all()},
    }
