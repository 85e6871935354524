"""Behaviour shared by rows that name a versioned file or folder under the data root (adapters, datasets)."""

from __future__ import annotations

from pathlib import Path

from rmnconsole.core.paths import data_root


class NamedVersionMixin:
    """For rows with `name`, `version` and `path` (relative to the data root)."""

    @property
    def label(self) -> str:
        return f"{self.name} v{self.version}"

    def abs_path(self) -> Path:
        return data_root() / self.path
