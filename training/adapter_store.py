"""Registering a trained adapter folder as the next free version of its name: the row and the folder, or neither."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from django.db import IntegrityError, transaction

from rmnconsole.core.paths import ADAPTERS, data_dir, relative_to_root
from training.engine.export import ModelCard, StoredAdapter, move_into_store, prepare_adapter
from training.models import Adapter

ATTEMPTS = 5


def next_folder_version(store: Path) -> int:
    taken = [int(p.name[1:]) for p in store.glob("v*") if p.name[1:].isdigit()] if store.is_dir() else []
    return max(taken, default=0) + 1


def store_new_version(
    name: str,
    staging: Path,
    card_for: Callable[[int], ModelCard],
    row: dict[str, Any],
    finish: Callable[[Adapter], object],
) -> tuple[Adapter, StoredAdapter] | None:
    """Write the card into `staging`, then in one transaction: the Adapter row (`row` holds what the caller knows:
    type, base model, metrics, source), `finish(adapter)` (ends the job; raise to roll back) and the move of the
    folder into the store as the last step.

    Two jobs finishing the same name at once race for a version: the loser takes the next one. None when no version
    was free after a few tries. Any other exception propagates with the transaction rolled back and `staging` kept.
    """
    store = data_dir(ADAPTERS) / name
    for _attempt in range(ATTEMPTS):
        version = max(Adapter.next_version(name), next_folder_version(store))
        destination = store / f"v{version}"
        try:
            stored = prepare_adapter(staging, card_for(version))
            with transaction.atomic():
                adapter = Adapter.objects.create(
                    name=name,
                    version=version,
                    path=relative_to_root(destination),
                    rank=stored.rank,
                    alpha=stored.alpha,
                    target_modules=stored.target_modules,
                    size_bytes=stored.size_bytes,
                    sha256=stored.sha256,
                    **row,
                )
                finish(adapter)
                move_into_store(staging, destination)
        except (IntegrityError, FileExistsError):
            continue
        return adapter, stored
    return None
