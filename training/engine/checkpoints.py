"""Finding a job's resumable checkpoints on disk (light: no ML imports, the web process uses it)."""

from __future__ import annotations

from pathlib import Path


def latest_checkpoint(folder: Path) -> Path | None:
    """The checkpoint-N folder with the highest N that has trainer state (a complete save)."""
    best: tuple[int, Path] | None = None
    for child in folder.glob("checkpoint-*") if folder.is_dir() else []:
        suffix = child.name.rsplit("-", 1)[-1]
        complete = suffix.isdigit() and (child / "trainer_state.json").is_file()
        if complete and (best is None or int(suffix) > best[0]):
            best = (int(suffix), child)
    return best[1] if best else None
