"""Reading a JSONL file's lines for validation: streamed in big chunks, over-long lines skipped unread, and a few
lines re-read by offset. Both the streaming pass (engine) and the checks use it, so neither imports the other."""

from __future__ import annotations

from array import array
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import orjson

from datasets_app.library.validation import formats as F

CHUNK_BYTES = 8 * 1024 * 1024
BOM = b"\xef\xbb\xbf"
# One example larger than this is not a training example (a 50 MB line once took a training job to 14 GB RSS):
# it is flagged, never parsed, and the quality gate refuses the dataset.
DEFAULT_MAX_LINE_BYTES = 1024 * 1024

Progress = Callable[[int, int], None]


class TooLong(int):
    """Stands for a line longer than the limit: its size in bytes (its content was not kept)."""


def iter_lines(
    path: Path, sha: Any, progress: Progress | None, total: int, max_line_bytes: int | None = None
) -> Iterator[tuple[int, int, bytes | TooLong]]:
    """Yield (line_number, byte_offset, raw_line or TooLong) reading big chunks; hashes every byte on the way.

    Memory stays bounded by the chunk size plus max_line_bytes, whatever the longest line.
    """
    offset = line_no = done = 0
    rest = b""
    skipping = 0  # bytes of an over-long line passed over so far (0: not inside one)
    with path.open("rb") as fh:
        while True:
            chunk = fh.read(CHUNK_BYTES)
            if not chunk:
                break
            sha.update(chunk)
            done += len(chunk)
            if skipping:
                cut = chunk.find(b"\n")
                if cut < 0:
                    skipping += len(chunk)
                    if progress:
                        progress(done, total)
                    continue
                skipping += cut
                line_no += 1
                yield line_no, offset, TooLong(skipping)
                offset += skipping + 1
                skipping = 0
                chunk = chunk[cut + 1 :]
            data = rest + chunk if rest else chunk
            parts = data.split(b"\n")
            rest = parts.pop()
            for raw in parts:
                line_no += 1
                too_long = max_line_bytes and len(raw) > max_line_bytes
                yield line_no, offset, TooLong(len(raw)) if too_long else raw
                offset += len(raw) + 1
            if max_line_bytes and len(rest) > max_line_bytes:
                skipping, rest = len(rest), b""
            if progress:
                progress(done, total)
    if skipping:
        yield line_no + 1, offset, TooLong(skipping)
    elif rest:
        yield line_no + 1, offset, rest


def _decode_text(raw: bytes) -> str:
    obj = orjson.loads(raw)
    return F.inspect_example(obj).text if isinstance(obj, dict) else ""


def read_texts(path: Path, offsets: array, lines: list[int]) -> dict[int, str]:
    """The example text of a few lines, read by byte offset (the near-duplicate verification pass)."""
    out: dict[int, str] = {}
    with path.open("rb") as fh:
        for line in sorted(set(lines)):
            fh.seek(offsets[line - 1])
            raw = fh.readline().rstrip(b"\r\n")
            if line == 1 and raw.startswith(BOM):
                raw = raw[3:]
            try:
                out[line] = _decode_text(raw)
            except orjson.JSONDecodeError:
                out[line] = ""
    return out
