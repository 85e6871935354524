"""Text fingerprints for duplicate detection: exact hashes (xxhash) and MinHash LSH bands (rensa), vectorised per batch.

Normalisation: ASCII case-folded, split on whitespace. An example's exact hash is xxh3 over its word fingerprints,
so two examples that differ only in case or spacing are exact duplicates. Near duplicates are found with rensa's
R-MinHash over word 3-shingles (32 slots, 8 LSH bands of 4 rows: a pair is a candidate with probability 98.5 % at
Jaccard 0.8, 99.7 % at 0.85, > 99.99 % at 0.9), and every candidate pair is then checked with the real Jaccard
similarity of the two shingle sets. 32 slots, not 128: reading signatures out of rensa costs a Python int per slot,
which dominates on files of many short examples.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import rensa
import xxhash
from numpy.lib.stride_tricks import as_strided

NUM_PERM = 32
NUM_BANDS = 8
ROWS_PER_BAND = NUM_PERM // NUM_BANDS
SHINGLE = 3
SEED = 20240101
# A single example longer than this is not sketched (it is a length outlier anyway); its exact hash still counts.
MAX_SKETCH_BYTES = 8 * 1024 * 1024

_WS = np.zeros(256, dtype=bool)
_WS[[9, 10, 11, 12, 13, 32]] = True
_K1, _K2, _K3 = np.uint64(0x9E3779B97F4A7C15), np.uint64(0xC2B2AE3D27D4EB4F), np.uint64(0x165667B19E3779F9)


def _mix(x: np.ndarray) -> np.ndarray:
    """splitmix64 finaliser: spreads polynomial hashes over all 64 bits."""
    x = x ^ (x >> np.uint64(30))
    x = x * np.uint64(0xBF58476D1CE4E5B9)
    x = x ^ (x >> np.uint64(27))
    x = x * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


# Masks keeping the first k bytes of a little-endian uint64 (k = 0..8).
_MASKS = np.array([(1 << (8 * k)) - 1 for k in range(8)] + [2**64 - 1], dtype=np.uint64)


@dataclass
class BatchText:
    """A batch of example texts as one UTF-8 buffer ("\\n" between examples) with each example's byte range."""

    buf: bytes
    arr: np.ndarray  # the same bytes as uint8
    starts: np.ndarray  # byte offset of each example
    lens: np.ndarray  # byte length of each example

    @classmethod
    def build(cls, texts: list[str]) -> BatchText:
        encoded = [t.encode("utf-8", "surrogatepass") for t in texts]
        buf = b"\n".join(encoded)
        lens = np.fromiter((len(e) for e in encoded), dtype=np.int64, count=len(texts))
        starts = np.zeros(len(texts), dtype=np.int64)
        if len(texts) > 1:
            np.cumsum(lens[:-1] + 1, out=starts[1:])
        return cls(buf, np.frombuffer(buf, dtype=np.uint8), starts, lens)

    def doc_of(self, positions: np.ndarray | list[int]) -> np.ndarray:
        return np.searchsorted(self.starts, np.asarray(positions, dtype=np.int64), side="right") - 1


@dataclass
class BatchWords:
    """Word fingerprints of a batch of texts: flat array + per-document word ranges + byte bounds of each word."""

    words: np.ndarray  # uint64 fingerprints, documents one after another
    first: np.ndarray  # index of each document's first word
    count: np.ndarray  # words per document
    starts: np.ndarray  # byte offset where each word starts in the batch buffer
    ends: np.ndarray  # ... and ends (exclusive)


def word_bounds(arr: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """[start, end) byte offsets of every whitespace-separated word in a uint8 buffer."""
    n = len(arr)
    if n == 0:
        return np.empty(0, np.int64), np.empty(0, np.int64)
    isw = ~_WS[arr]
    edge = np.empty(n + 1, dtype=bool)
    edge[0] = isw[0]
    edge[n] = isw[-1]
    np.not_equal(isw[1:], isw[:-1], out=edge[1:n])
    bounds = np.flatnonzero(edge)
    return bounds[0::2], bounds[1::2]


def batch_words(batch: BatchText | list[str]) -> BatchWords:
    """Fingerprint every whitespace-separated word of every text, all at once (no per-word Python work).

    Each word is read eight bytes at a time straight out of the buffer (an overlapping strided view), masked to
    its length and mixed: a handful of numpy operations per batch, whatever the number of words.
    """
    if not isinstance(batch, BatchText):
        batch = BatchText.build(batch)
    n = len(batch.buf)
    ndocs = len(batch.starts)
    if n == 0:
        empty = np.empty(0, np.int64)
        return BatchWords(
            np.empty(0, np.uint64), np.zeros(ndocs, np.int64), np.zeros(ndocs, np.int64), empty, empty
        )
    padded = np.frombuffer(batch.buf.lower() + bytes(8), dtype=np.uint8)
    starts, ends = word_bounds(padded[:n])
    lens = ends - starts
    windows = as_strided(padded, shape=(n, 8), strides=(1, 1), writeable=False)
    with np.errstate(over="ignore"):
        words = windows[starts].view(np.uint64).ravel() & _MASKS[np.minimum(lens, 8)]
        words ^= lens.astype(np.uint64) * _K3
        longer = np.flatnonzero(lens > 8)
        offset = 8
        while len(longer):
            chunk = windows[starts[longer] + offset].view(np.uint64).ravel()
            words[longer] = _mix(words[longer]) ^ (chunk & _MASKS[np.minimum(lens[longer] - offset, 8)])
            offset += 8
            longer = longer[lens[longer] > offset]
        words = _mix(words)
    doc_of_word = batch.doc_of(starts)
    count = np.bincount(doc_of_word, minlength=ndocs).astype(np.int64)
    first = np.zeros(ndocs, dtype=np.int64)
    if ndocs > 1:
        np.cumsum(count[:-1], out=first[1:])
    return BatchWords(words, first, count, starts, ends)


def exact_hashes(bw: BatchWords) -> np.ndarray:
    """xxh3 of each document's normalised word sequence; 0 for a document without words."""
    out = np.zeros(len(bw.count), dtype=np.uint64)
    words = bw.words
    for i, (start, count) in enumerate(zip(bw.first.tolist(), bw.count.tolist(), strict=True)):
        if count:
            out[i] = xxhash.xxh3_64_intdigest(words[start : start + count])
    return out


def exact_hash_of_text(text: str) -> int:
    """The exact hash of one text without the batch machinery (used for giant examples)."""
    return (
        exact_hashes(batch_words([text]))[0].item()
        if len(text) <= MAX_SKETCH_BYTES
        else xxhash.xxh3_64_intdigest(" ".join(text.lower().split()).encode("utf-8", "surrogatepass"))
    )


def shingles(bw: BatchWords) -> tuple[np.ndarray, np.ndarray]:
    """Word 3-shingle fingerprints, grouped per document, and the row offsets rensa's flat API takes.

    A document with fewer than three words gets one shingle made of the words it has.
    """
    ndocs = len(bw.count)
    words, first, count = bw.words, bw.first, bw.count
    doc_of_word = np.repeat(np.arange(ndocs, dtype=np.int64), count)
    with np.errstate(over="ignore"):
        if len(words) >= SHINGLE:
            same = doc_of_word[: -SHINGLE + 1] == doc_of_word[SHINGLE - 1 :]
            tri = _mix(words[:-2] * _K1 + words[1:-1] * _K2 + words[2:] * _K3)[same]
            tri_doc = doc_of_word[: -SHINGLE + 1][same]
        else:
            tri = np.empty(0, np.uint64)
            tri_doc = np.empty(0, np.int64)
        short = np.flatnonzero((count > 0) & (count < SHINGLE))
        if len(short):
            w0 = words[first[short]]
            second = np.where(count[short] > 1, first[short] + 1, first[short])
            w1 = np.where(count[short] > 1, words[second], np.uint64(0))
            tri = np.concatenate([tri, _mix(w0 * _K1 + w1 * _K2)])
            tri_doc = np.concatenate([tri_doc, short])
            order = np.argsort(tri_doc, kind="stable")
            tri, tri_doc = tri[order], tri_doc[order]
    per_doc = np.bincount(tri_doc, minlength=ndocs)
    offsets = np.zeros(ndocs + 1, dtype=np.uint64)
    np.cumsum(per_doc, out=offsets[1:])
    return tri, offsets


def band_hashes(shingle_hashes: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """R-MinHash signatures (rensa) folded into NUM_BANDS 32-bit band keys per document.

    32 bits per key keeps a million examples' keys in 32 MB; the rare chance collisions only add candidates,
    which the exact Jaccard check then rejects.
    """
    ndocs = len(offsets) - 1
    if ndocs == 0:
        return np.empty((0, NUM_BANDS), dtype=np.uint32)
    matrix = rensa.RMinHash.digest_matrix_from_flat_token_hashes(shingle_hashes, offsets, NUM_PERM, SEED)
    sig = np.asarray(matrix.to_rows(), dtype=np.uint32).reshape(ndocs, NUM_BANDS, ROWS_PER_BAND)
    halves = np.ascontiguousarray(sig).view(np.uint64).reshape(ndocs, NUM_BANDS, ROWS_PER_BAND // 2)
    with np.errstate(over="ignore"):
        keys = halves[:, :, 0] * _K1
        for j in range(1, ROWS_PER_BAND // 2):
            keys = (keys ^ halves[:, :, j]) * _K2
        return _mix(keys).astype(np.uint32)


def shingle_sets(texts: list[str]) -> list[np.ndarray]:
    """Sorted unique shingle fingerprints of each text: the sets whose real Jaccard verifies a candidate pair.

    One sort for the whole batch (by document, then value), instead of a numpy call per text.
    """
    bw = batch_words(texts)
    flat, offsets = shingles(bw)
    per_doc = np.diff(offsets.astype(np.int64))
    doc = np.repeat(np.arange(len(texts), dtype=np.int64), per_doc)
    order = np.lexsort((flat, doc))
    flat, doc = flat[order], doc[order]
    keep = np.ones(len(flat), dtype=bool)
    keep[1:] = (flat[1:] != flat[:-1]) | (doc[1:] != doc[:-1])
    flat, doc = flat[keep], doc[keep]
    bounds = np.zeros(len(texts) + 1, dtype=np.int64)
    np.cumsum(np.bincount(doc, minlength=len(texts)), out=bounds[1:])
    return [flat[bounds[i] : bounds[i + 1]] for i in range(len(texts))]


def jaccard(a: np.ndarray, b: np.ndarray) -> float:
    if not len(a) and not len(b):
        return 1.0
    inter = np.intersect1d(a, b, assume_unique=True).size
    return inter / (len(a) + len(b) - inter)
