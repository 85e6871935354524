"""Pure helpers: A/B statistics, the LRU model cache, data parsing."""

from __future__ import annotations

import gc
import weakref

import pytest

from federation.engine.abstats import exact_match, paired_bootstrap, percentile, token_f1, verdict
from federation.engine.cache import ModelCache
from federation.engine.data import parse_example, validation_split


def test_exact_match_and_token_f1():
    assert exact_match("Plan: shift 30%.", "plan shift 30") == 1.0
    assert exact_match("plan", "plan now") == 0.0
    assert token_f1("shift budget to brand", "shift budget to brand") == 1.0
    assert token_f1("shift budget", "shift budget to brand") == pytest.approx(2 * 1.0 * 0.5 / 1.5)
    assert token_f1("nothing alike", "shift budget") == 0.0


def test_paired_bootstrap_separates_clear_and_null_differences():
    clear = paired_bootstrap([0.0] * 10, [1.0] * 8 + [0.0] * 2, metric="token_f1")
    assert clear.significant and clear.ci_low > 0 and clear.diff == pytest.approx(0.8)
    assert verdict(clear, "fed-a", "fed-b").startswith("B (fed-b) is better on accuracy, CI excludes 0")
    null = paired_bootstrap([0.5, 0.4, 0.6, 0.5], [0.4, 0.5, 0.5, 0.6], metric="token_f1")
    assert not null.significant and verdict(null).startswith("No significant difference")
    assert percentile([10, 20, 30, 40], 50) == 25


class Big:
    pass


def test_lru_cache_hits_evicts_oldest_and_frees():
    cache = ModelCache(2)
    loads = []

    def loader(name):
        def load():
            loads.append(name)
            return Big()

        return load

    first = cache.get_or_load((1, 1), loader("a"))
    ref = weakref.ref(first.value)
    assert not first.hit and cache.get_or_load((1, 1), loader("a")).hit
    cache.get_or_load((2, 1), loader("b"))
    cache.get_or_load((1, 1), loader("a"))  # touch: (2, 1) is now the oldest
    third = cache.get_or_load((3, 1), loader("c"))
    assert third.evicted == [(2, 1)] and cache.entries() == [(1, 1), (3, 1)]
    assert loads == ["a", "b", "c"]
    del first
    cache.clear()
    gc.collect()
    assert ref() is None and len(cache) == 0, "an evicted model is really freed"


def test_dataset_rows_in_every_format():
    assert parse_example({"prompt": "p", "completion": "c"}).reference == "c"
    assert parse_example({"prompt": "p", "chosen": "good", "rejected": "bad"}).reference == "good"
    messages = {
        "messages": [
            {"role": "system", "content": "s"},
            {"role": "user", "content": "q"},
            {"role": "assistant", "content": "a"},
        ]
    }
    example = parse_example(messages)
    assert (example.prompt, example.reference) == ("q", "a")
    assert parse_example({"other": 1}) is None
    rows = [parse_example({"prompt": str(i), "completion": str(i)}) for i in range(30)]
    held = validation_split(rows)
    assert len(held) == 3 and held == validation_split(rows)
