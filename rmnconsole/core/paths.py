"""The data root and confinement of user-typed paths to it."""

from __future__ import annotations

from pathlib import Path

from django.conf import settings

# Sub-folders of RMN_DATA_ROOT, one per kind of artifact.
DATASETS = "datasets"
SOURCES = "sources"
ADAPTERS = "adapters"
CHECKPOINTS = "checkpoints"
MODELS = "models"
EXPORTS = "exports"
FEDERATIONS = "federations"


class PathOutsideDataRoot(ValueError):
    """A user-supplied path escapes the folder it must stay in."""


def data_root() -> Path:
    return Path(settings.RMN_DATA_ROOT).resolve()


def data_dir(kind: str) -> Path:
    """The data root's folder for one kind of artifact, created on first use."""
    folder = data_root() / kind
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def resolve_inside(user_path: str | Path, folder: Path | None = None) -> Path:
    """Resolve a user-typed path (relative to the data root, or absolute) and refuse escapes.

    Symlinks are resolved before the check, so a link that points out of the folder is refused too.
    """
    base = (folder or data_root()).resolve()
    raw = str(user_path).strip()
    if not raw or "\x00" in raw:
        raise PathOutsideDataRoot("the path is empty or contains a NUL byte")
    candidate = Path(raw)
    if not candidate.is_absolute():
        candidate = data_root() / candidate
    resolved = candidate.resolve()
    if resolved != base and base not in resolved.parents:
        raise PathOutsideDataRoot(
            f"{raw!r} is outside {base} — only files under the data root's {base.name}/ folder can be used"
        )
    return resolved


def relative_to_root(path: Path) -> str:
    """How a path inside the data root is shown and stored: relative to the root."""
    return str(Path(path).resolve().relative_to(data_root()))
