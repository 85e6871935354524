"""The inference worker's LRU cache of composed models, keyed by (federation id, version)."""

from __future__ import annotations

import gc
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass

import torch


@dataclass
class CacheLookup:
    value: object
    hit: bool
    load_ms: float
    evicted: list


class ModelCache:
    """Least-recently-used models stay; the oldest is dropped (and its memory freed) past `capacity`."""

    def __init__(self, capacity: int) -> None:
        self.capacity = max(1, int(capacity))
        self._items: OrderedDict[Hashable, object] = OrderedDict()
        self._lock = threading.RLock()
        self.hits = 0
        self.misses = 0

    def __contains__(self, key: Hashable) -> bool:
        return key in self._items

    def __len__(self) -> int:
        return len(self._items)

    def entries(self) -> list:
        return list(self._items)

    def get_or_load(self, key: Hashable, loader: Callable[[], object]) -> CacheLookup:
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                self.hits += 1
                return CacheLookup(self._items[key], True, 0.0, [])
            self.misses += 1
            # Make room first: two large models must never sit in memory together past the limit.
            evicted = self._evict_to(self.capacity - 1)
            started = time.perf_counter()
            value = loader()
            self._items[key] = value
            return CacheLookup(value, False, (time.perf_counter() - started) * 1000.0, evicted)

    def resize(self, capacity: int) -> list:
        with self._lock:
            self.capacity = max(1, int(capacity))
            return self._evict_to(self.capacity)

    def evict(self, predicate: Callable[[Hashable], bool]) -> list:
        with self._lock:
            keys = [k for k in self._items if predicate(k)]
            for key in keys:
                del self._items[key]
            if keys:
                free_memory()
            return keys

    def clear(self) -> list:
        return self.evict(lambda _key: True)

    def _evict_to(self, size: int) -> list:
        evicted = []
        while len(self._items) > max(0, size):
            # Delete by key (no local reference left) so free_memory can really release the model.
            key = next(iter(self._items))
            del self._items[key]
            evicted.append(key)
        if evicted:
            free_memory()
        return evicted


def free_memory() -> None:
    """Drop Python references' cycles and hand cached CUDA blocks back to the driver."""
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
