"""What a later app provides to an earlier one, registered from the later app's AppConfig.ready().

Dataset validation counts tokens with a base model's tokenizer, and a dataset may not be deleted while a
training job reads it; both facts belong to training, which datasets code must not import. Training registers
them here, datasets code asks here, and the core itself knows no app name.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class TokenizerSource:
    available: Callable[[], list[str]]  # base-model names whose tokenizer can be loaded now (pick lists)
    folder: Callable[
        [str], Path | None
    ]  # where a base model's tokenizer lives; None when the name is unknown
    load: Callable[[Path], Any]  # the one tokenizer loader (offline, no remote code)


_tokenizers: TokenizerSource | None = None
_dataset_users: list[Callable[[Any], list[int]]] = []


def register_tokenizer_source(source: TokenizerSource) -> None:
    global _tokenizers
    _tokenizers = source


def tokenizer_names() -> list[str]:
    return _tokenizers.available() if _tokenizers else []


def tokenizer_folder(name: str) -> Path | None:
    return _tokenizers.folder(name) if _tokenizers else None


def load_tokenizer(folder: Path) -> Any:
    if _tokenizers is None:
        raise LookupError("no tokenizer source is registered")
    return _tokenizers.load(folder)


def register_dataset_users(find: Callable[[Any], list[int]]) -> None:
    """`find(dataset)` returns the ids of queued or running jobs that read the dataset."""
    if find not in _dataset_users:
        _dataset_users.append(find)


def active_dataset_users(dataset: Any) -> list[int]:
    return sorted({job_id for find in _dataset_users for job_id in find(dataset)})


# Evaluation figures of an adapter (score, Δ vs base, Δ vs previous version): federation computes, training shows.
_adapter_figures: Callable[[Any], dict | None] | None = None


def register_adapter_figures(figures: Callable[[Any], dict | None]) -> None:
    global _adapter_figures
    _adapter_figures = figures


def adapter_figures(adapter: Any) -> dict | None:
    """None when nothing is registered or the adapter has no eval yet; {"pending": True} while one runs."""
    return _adapter_figures(adapter) if _adapter_figures else None


# Lineage of an adapter or a deployment (which data, dataset version, job, eval, who or which pipeline approved):
# federation's pipelines record it, training's adapter page and the deployments page show it.
_lineage: dict[str, Callable[[Any], list[dict]]] = {}


def register_lineage(kind: str, find: Callable[[Any], list[dict]]) -> None:
    _lineage[kind] = find


def lineage(kind: str, row: Any) -> list[dict]:
    """Rows of {label, value, url?} (an adapter) or one dict per change (a deployment); [] when nothing knows."""
    find = _lineage.get(kind)
    return find(row) if find else []
