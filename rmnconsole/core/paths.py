"""The data root and confinement of user-typed paths to it."""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from django.conf import settings

# Sub-folders of RMN_DATA_ROOT, one per kind of artifact.
DATASETS = "datasets"
SOURCES = "sources"
ADAPTERS = "adapters"
CHECKPOINTS = "checkpoints"
MODELS = "models"
EXPORTS = "exports"
FEDERATIONS = "federations"
UPLOADS = "tmp/uploads"  # uploads being received or validated, before they are registered


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
        # Named relative to the data root: the message reaches users, the server's own folders must not.
        root = data_root()
        try:
            where = "the data root" if base == root else f"the data root's {base.relative_to(root)}/ folder"
        except ValueError:  # a folder configured outside the data root: its last part only
            where = f"the {base.name}/ folder"
        shown = raw if not Path(raw).is_absolute() else Path(raw).name
        raise PathOutsideDataRoot(f"{shown!r} is outside {where} — only files under {where} can be used")
    return resolved


def relative_to_root(path: Path) -> str:
    """How a path inside the data root is shown and stored: relative to the root."""
    return str(Path(path).resolve().relative_to(data_root()))


# --- reading files at open time -------------------------------------------------------------------------------
# A stored path was checked when it was registered; the file can be swapped for a symlink afterwards. Every read,
# download, zip and export opens through these helpers, which walk from the data root one component at a time with
# O_NOFOLLOW (so no symlink is followed anywhere on the way) and accept only a regular file at the end.


class UnsafeFile(PathOutsideDataRoot):
    """What a stored path names now is a symlink, a non-regular file, or outside the data root."""


_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_FILE_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC


def _parts_under_root(path: str | Path, folder: Path | None) -> tuple[str, ...]:
    raw = str(path).strip()
    if not raw or "\x00" in raw:
        raise UnsafeFile("the path is empty or contains a NUL byte")
    root = data_root()
    candidate = Path(raw) if Path(raw).is_absolute() else root / raw
    # Lexical normalisation is exact here because no component may be a symlink (each is opened with O_NOFOLLOW).
    normal = Path(os.path.normpath(candidate))
    base = Path(os.path.normpath(folder)) if folder is not None else root
    if not normal.is_relative_to(root) or not normal.is_relative_to(base):
        raise UnsafeFile(f"{raw!r} is outside the data root")
    return normal.relative_to(root).parts


def _refuse(shown: str, exc: OSError) -> UnsafeFile:
    if exc.errno in (errno.ELOOP, errno.ENOTDIR, errno.EMLINK):
        return UnsafeFile(f"{shown} is a symbolic link or passes through one; it is not read")
    return UnsafeFile(f"{shown} cannot be opened: {exc.strerror}")


def _open_dir_fd(parts: tuple[str, ...], shown: str) -> int:
    fd = os.open(data_root(), _DIR_FLAGS & ~os.O_NOFOLLOW)
    try:
        for part in parts:
            try:
                child = os.open(part, _DIR_FLAGS, dir_fd=fd)
            except FileNotFoundError:
                raise
            except OSError as exc:
                raise _refuse(shown, exc) from None
            os.close(fd)
            fd = child
    except BaseException:
        os.close(fd)
        raise
    return fd


def open_inside(path: str | Path, folder: Path | None = None) -> BinaryIO:
    """Open for reading a regular file inside `folder` (default: the data root), following no symlink.

    Raises FileNotFoundError when it is gone and UnsafeFile when it is a symlink, not a regular file, or outside.
    """
    parts = _parts_under_root(path, folder)
    if not parts:
        raise UnsafeFile("the data root itself is not a file")
    shown = "/".join(parts)
    dir_fd = _open_dir_fd(parts[:-1], shown)
    try:
        fd = os.open(parts[-1], _FILE_FLAGS, dir_fd=dir_fd)
    except FileNotFoundError:
        raise
    except OSError as exc:
        raise _refuse(shown, exc) from None
    finally:
        os.close(dir_fd)
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise UnsafeFile(f"{shown} is not a regular file; it is not read")
    os.set_blocking(fd, True)
    return os.fdopen(fd, "rb")


def opened_path(handle: BinaryIO) -> Path:
    """A path that names exactly the file `handle` holds open, for libraries that want a path (Linux /proc)."""
    return Path(f"/proc/self/fd/{handle.fileno()}")


def iter_tree_inside(folder: str | Path) -> Iterator[tuple[str, BinaryIO]]:
    """(relative name, open handle) for every regular file under a folder inside the data root, sorted.

    Symlinks anywhere in the tree are refused (UnsafeFile), never followed or copied.
    """
    parts = _parts_under_root(folder, None)
    shown = "/".join(parts) or "."
    top = _open_dir_fd(parts, shown)

    def walk(dir_fd: int, prefix: str) -> Iterator[tuple[str, BinaryIO]]:
        for name in sorted(os.listdir(dir_fd)):
            rel = f"{prefix}{name}"
            info = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
            if stat.S_ISLNK(info.st_mode):
                raise UnsafeFile(f"{shown}/{rel} is a symbolic link; it is not read")
            if stat.S_ISDIR(info.st_mode):
                try:
                    child = os.open(name, _DIR_FLAGS, dir_fd=dir_fd)
                except OSError as exc:
                    raise _refuse(f"{shown}/{rel}", exc) from None
                try:
                    yield from walk(child, rel + "/")
                finally:
                    os.close(child)
            elif stat.S_ISREG(info.st_mode):
                try:
                    fd = os.open(name, _FILE_FLAGS, dir_fd=dir_fd)
                except OSError as exc:
                    raise _refuse(f"{shown}/{rel}", exc) from None
                if not stat.S_ISREG(os.fstat(fd).st_mode):
                    os.close(fd)
                    raise UnsafeFile(f"{shown}/{rel} is not a regular file; it is not read")
                os.set_blocking(fd, True)
                with os.fdopen(fd, "rb") as handle:
                    yield rel, handle

    try:
        yield from walk(top, "")
    finally:
        os.close(top)
