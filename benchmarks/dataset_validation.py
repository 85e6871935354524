"""Benchmark: validate a ~100 MB SFT JSONL with planted defects; MB/s and peak RSS against a raw orjson parse.

    .venv/bin/python benchmarks/dataset_validation.py [--size-mb 100] [--keep PATH]

Prints the validator's throughput next to the raw parse speed of the same file (orjson, same run) and checks that
every planted defect is found exactly (target: >= 20 MB/s, peak RSS < 500 MB, counts equal).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import multiprocessing as mp
import random
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

# Planted defects: one defect per line, so each check's count is known exactly.
PLANTED = {
    "json_valid": 200,
    "required_fields": 150,
    "field_types": 100,
    "roles": 100,
    "empty_content": 100,
    "exact_duplicates": 300,
    "near_duplicates": 200,
    "pii": 210,  # 50 e-mails, 50 phones, 30 cards, 30 SSNs, 30 IPs, 20 API keys; 30 Luhn-failing numbers are NOT PII
    "length_outliers": 40,
}
RMN_WORDS = [
    "campaign",
    "budget",
    "sponsored",
    "product",
    "brand",
    "display",
    "offsite",
    "onsite",
    "retailer",
    "audience",
    "impressions",
    "clicks",
    "conversions",
    "roas",
    "ctr",
    "cpc",
    "cpm",
    "placement",
    "keyword",
    "bid",
    "creative",
    "headline",
    "grocery",
    "beauty",
    "electronics",
    "halo",
    "attribution",
    "window",
    "incremental",
    "lift",
    "shopper",
    "basket",
    "category",
    "sku",
    "gtin",
    "search",
    "page",
    "homepage",
]


def _vocab(rng: random.Random, size: int = 6000) -> list[str]:
    letters = "abcdefghijklmnopqrstuvwxyz"
    words = {"".join(rng.choices(letters, k=rng.randint(3, 9))) for _ in range(size)}
    return sorted(words) + RMN_WORDS * 20


def _text(rng: random.Random, vocab: list[str], words: int) -> str:
    out = rng.choices(vocab, k=words)
    # Numbers that look like retail data (budgets, dates, percentages) but are no PII.
    out[rng.randrange(words)] = f"{rng.randint(1, 99) * 500}"
    out[rng.randrange(words)] = f"2024-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"
    out[rng.randrange(words)] = f"{rng.randint(1, 40) / 10}%"
    return " ".join(out)


def _example(rng: random.Random, vocab: list[str], scale: int = 1) -> dict:
    return {
        "messages": [
            {"role": "system", "content": "You are a retail media planning assistant."},
            {"role": "user", "content": _text(rng, vocab, rng.randint(15, 150) * scale)},
            {"role": "assistant", "content": _text(rng, vocab, rng.randint(30, 220) * scale)},
        ]
    }


def _luhn_digit(partial: str) -> str:
    total = 0
    for i, ch in enumerate(reversed(partial)):
        d = int(ch)
        if i % 2 == 0:
            d *= 2
            d = d - 9 if d > 9 else d
        total += d
    return str((10 - total % 10) % 10)


def _pii_values(rng: random.Random) -> list[str]:
    values = [f"user{i}.{rng.randint(1, 999)}@example.com" for i in range(50)]
    values += [
        f"({rng.choice(['212', '415', '312', '617'])}) 555-{rng.randint(100, 999):04d}" for _ in range(50)
    ]
    for _ in range(30):
        body = "4" + "".join(str(rng.randint(0, 9)) for _ in range(14))
        number = body + _luhn_digit(body)
        values.append(" ".join(number[i : i + 4] for i in range(0, 16, 4)))
    values += [f"{rng.randint(100, 665)}-{rng.randint(10, 99)}-{rng.randint(1000, 9999)}" for _ in range(30)]
    values += [f"10.{rng.randint(0, 255)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}" for _ in range(30)]
    values += ["AKIA" + "".join(rng.choices("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", k=16)) for _ in range(20)]
    return values


def _not_a_card(rng: random.Random) -> str:
    body = "4" + "".join(str(rng.randint(0, 9)) for _ in range(14))
    bad = str((int(_luhn_digit(body)) + 1) % 10)
    number = body + bad
    return " ".join(number[i : i + 4] for i in range(0, 16, 4))


def generate(path: Path, size_mb: int, seed: int = 7) -> dict:
    """Write the file; return the planted counts (the engine must report exactly these)."""
    rng = random.Random(seed)
    vocab = _vocab(rng)
    target = size_mb * 1024 * 1024
    # Lines are ~1.8 kB; defects are spread uniformly over the file.
    approx_lines = target // 1800
    defects: list[str] = []
    for name, n in PLANTED.items():
        if name != "pii":
            defects += [name] * n
    pii_values = _pii_values(rng)
    defects += ["pii"] * len(pii_values) + ["not_pii"] * 30
    slots = sorted(rng.sample(range(1000, max(approx_lines - 100, len(defects) * 3)), len(defects)))
    rng.shuffle(defects)
    plan = dict(zip(slots, defects, strict=True))
    clean_pool: list[str] = []
    written = 0
    line = 0
    with path.open("w", encoding="utf-8") as fh:
        while written < target or line <= slots[-1]:
            line += 1
            kind = plan.get(line)
            ex = _example(rng, vocab)
            if kind is None or kind == "not_pii":
                if kind == "not_pii":
                    ex["messages"][1]["content"] += f" order ref {_not_a_card(rng)}"
                text = json.dumps(ex)
                if len(clean_pool) < 5000 and kind is None:
                    clean_pool.append(text)
            elif kind == "json_valid":
                text = json.dumps(ex)[: rng.randint(20, 200)]
            elif kind == "required_fields":
                if rng.random() < 0.5:
                    text = json.dumps({"conversation": ex["messages"]})
                else:
                    text = json.dumps(
                        {"prompt": ex["messages"][1]["content"], "completion": ex["messages"][2]["content"]}
                    )
            elif kind == "field_types":
                ex["messages"] = " ".join(
                    m["content"] for m in ex["messages"]
                )  # a string, not a message list
                text = json.dumps(ex)
            elif kind == "roles":
                ex["messages"][1]["role"] = rng.choice(["assistant", "bot", "human"])
                text = json.dumps(ex)
            elif kind == "empty_content":
                ex["messages"][1]["content"] = rng.choice(["", "   ", "\n\t"])
                # Keep the rest long enough that the blanked turn does not also make a length outlier.
                ex["messages"][2]["content"] = _text(rng, vocab, rng.randint(120, 220))
                text = json.dumps(ex)
            elif kind == "exact_duplicates":
                source = json.loads(rng.choice(clean_pool))
                if (
                    rng.random() < 0.5
                ):  # case / spacing changes are still exact duplicates after normalisation
                    source["messages"][1]["content"] = "  " + source["messages"][1]["content"].upper()
                text = json.dumps(source)
            elif kind == "near_duplicates":
                source = json.loads(clean_pool.pop(rng.randrange(len(clean_pool))))
                words = source["messages"][2]["content"].split()
                words[rng.randrange(len(words))] = "zzchanged"
                source["messages"][2]["content"] = " ".join(words)
                text = json.dumps(source)
            elif kind == "pii":
                ex["messages"][rng.choice([1, 2])]["content"] += f" contact {pii_values.pop()} today"
                text = json.dumps(ex)
            elif kind == "length_outliers":
                text = json.dumps(_example(rng, vocab, scale=25))
            fh.write(text + "\n")
            written += len(text) + 1
    return dict(PLANTED)


def baseline_parse(path: Path) -> float:
    import orjson

    start = time.perf_counter()
    rest = b""
    with path.open("rb") as fh:
        while chunk := fh.read(8 * 1024 * 1024):
            parts = (rest + chunk).split(b"\n")
            rest = parts.pop()
            for raw in parts:
                with contextlib.suppress(orjson.JSONDecodeError):
                    orjson.loads(raw)
    return time.perf_counter() - start


def _validate_child(path: str, queue) -> None:
    from datasets_app.library.validation import validate_file

    start = time.perf_counter()
    report = validate_file(path).to_dict()
    seconds = time.perf_counter() - start
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    queue.put(
        (
            seconds,
            peak_mb,
            {n: c["count"] for n, c in report["checks"].items()},
            report["quality_score"],
            report["band"],
        )
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mb", type=int, default=100)
    parser.add_argument("--keep", help="write the generated file here and keep it")
    args = parser.parse_args()
    tmp = tempfile.TemporaryDirectory()
    path = Path(args.keep) if args.keep else Path(tmp.name) / "bench_sft.jsonl"
    t0 = time.perf_counter()
    planted = generate(path, args.size_mb)
    size_mb = path.stat().st_size / 1e6
    print(f"generated {size_mb:.1f} MB in {time.perf_counter() - t0:.1f} s: {path}")
    parse_s = baseline_parse(path)
    ctx = mp.get_context("spawn")  # a fresh process, so its peak RSS is the validator's alone
    queue = ctx.Queue()
    proc = ctx.Process(target=_validate_child, args=(str(path), queue))
    proc.start()
    seconds, peak_mb, counts, score, band = queue.get()
    proc.join()
    print(f"baseline orjson parse : {size_mb / parse_s:7.1f} MB/s ({parse_s:.2f} s)")
    print(
        f"validation (all checks): {size_mb / seconds:7.1f} MB/s ({seconds:.2f} s), peak RSS {peak_mb:.0f} MB"
    )
    print(f"ratio validation/parse : {parse_s / seconds:.2f}x of raw parse speed")
    print(f"quality score {score} ({band})")
    ok = True
    for name, expected in planted.items():
        got = counts.get(name)
        mark = "ok" if got == expected else "MISMATCH"
        ok &= got == expected
        print(f"  {name:18s} planted {expected:5d}  found {got!s:>5}  {mark}")
    target_ok = size_mb / seconds >= 20 and peak_mb < 500
    print(
        f"targets (>= 20 MB/s, < 500 MB RSS): {'met' if target_ok else 'NOT met'}; counts {'match' if ok else 'DO NOT match'}"
    )
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
