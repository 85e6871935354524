"""Benchmark: 200 browsers watching one running training job — live WebSocket updates against polling.

    DATABASE_URL=postgres://root@127.0.0.1:5432/postgres REDIS_URL=redis://127.0.0.1:6379/5 \\
        .venv/bin/python benchmarks/live_fanout.py [--clients 200] [--writes 40] [--rounds 2]

Builds a scratch PostgreSQL database (bench_rmn_live), starts daphne on the console's ASGI app (one process, as in
production), and signs `--clients` watchers in with a real session. The writer is the worker's own code
(`training.worker_sync.write_progress`: one UPDATE + the loss point, then the live event after commit) at 0.5 writes a
second by default (`--rate`; a training job writes every RMN_TRAINING_REPORT_SECONDS = 2 s). In rounds, interleaved:

- live: every watcher holds a socket (/ws/live/training.trainingjob/<id>/) and acknowledges as the page does;
  delay = write start → the watcher has the event with that step.
- polling: every watcher does what the page does without live updates, every 2 s: the progress partial and
  metrics?after=<last step>; delay = write start → the first poll that returns that step.

Prints p50/p99 delay for both (target for live: p99 < 500 ms on this machine), the HTTP requests each mode cost the
server while the job ran, the server's CPU seconds, and its RSS before the watchers, with them connected, and after.
Delays are measured by one client process on the same machine: its own scheduling is part of them.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from benchmarks._common import free_port, prepare_database  # noqa: E402

BENCH_DB = "bench_rmn_live"
POLL_SECONDS = 2.0  # the job page's polling period


def _pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    values = sorted(values)
    return values[min(len(values) - 1, round(q * (len(values) - 1)))]


def setup_django(db_url: str) -> None:
    import logging

    logging.getLogger("httpx").setLevel(logging.WARNING)
    os.environ["DATABASE_URL"] = db_url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "rmnconsole.settings")
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0, interactive=False)


def make_job_and_session():
    from django.contrib.auth import get_user_model
    from django.contrib.sessions.backends.db import SessionStore

    from training.models import FoundationModel, TrainingJob

    user = get_user_model().objects.create_user("bench", "bench@example.com", "bench-pass-123456")
    session = SessionStore()
    session["_auth_user_id"] = str(user.pk)
    session["_auth_user_backend"] = "django.contrib.auth.backends.ModelBackend"
    session["_auth_user_hash"] = user.get_session_auth_hash()
    session.create()
    base = FoundationModel.objects.create(name="bench-base", source="bench-base", family="llama")
    job = TrainingJob.objects.create(
        adapter_type="task", adapter_name="bench_live", base_model=base, training_type="sft",
        status="running", total_steps=100_000, created_by=user,
    )  # fmt: skip
    return job, session.session_key


class Writer(threading.Thread):
    """The worker side: `writes` progress writes with one loss point each, starting at `first_step`."""

    def __init__(self, job_id: int, first_step: int, writes: int, rate: float):
        super().__init__(daemon=True)
        self.job_id, self.first_step, self.writes, self.rate = job_id, first_step, writes, rate
        self.started: dict[int, float] = {}

    def run(self) -> None:
        from training.engine.callback import MetricPoint, Progress
        from training.worker_sync import write_progress

        for n in range(self.writes):
            step = self.first_step + n
            due = time.monotonic() + 1.0 / self.rate
            progress = Progress(
                step=step, total_steps=100_000, epoch=step / 1000, tokens_per_second=1000.0, eta_seconds=60.0,
                num_tokens=step * 100, metrics=[MetricPoint(step=step, loss=1.0 / step)], log_lines=[f"step {step}"],
            )  # fmt: skip
            self.started[step] = time.monotonic()
            write_progress(self.job_id, progress)
            time.sleep(max(0.0, due - time.monotonic()))


def server_usage(proc) -> tuple[float, float]:
    import psutil

    p = psutil.Process(proc.pid)
    cpu = p.cpu_times()
    return p.memory_info().rss / 2**20, cpu.user + cpu.system


CLIENT_PROCESSES = 4  # watchers are spread over processes: one Python process cannot read 200 sockets in time
ACK_EVERY = 16  # as static/js/live.js: acknowledge every 16 events (or after 200 ms)


async def _live_clients(base: str, job_id: int, cookie: str, n: int, ready, stop) -> list[dict[int, float]]:
    from websockets.asyncio.client import connect
    from websockets.exceptions import WebSocketException

    uri = base.replace("http://", "ws://") + f"/ws/live/training.trainingjob/{job_id}/"
    seen: list[dict[int, float]] = [{} for _ in range(n)]
    headers = {"Cookie": f"sessionid={cookie}"}

    async def open_socket():
        for attempt in range(6):  # as the page does: a refused or timed-out handshake is retried with backoff
            try:
                ws = await connect(
                    uri, origin=base, additional_headers=headers, compression=None, open_timeout=60
                )
                assert json.loads(await ws.recv())["kind"] == "hello"
                return ws
            except (OSError, TimeoutError, WebSocketException) as exc:
                if attempt == 5:
                    raise
                print("reconnecting after", type(exc).__name__, flush=True)
                await asyncio.sleep(2**attempt)

    sockets = []
    for start in range(0, n, 10):
        sockets += await asyncio.gather(*[open_socket() for _ in range(start, min(n, start + 10))])

    async def watch(i: int, ws) -> None:
        acked = 1
        try:
            async for message in ws:
                now = time.monotonic()
                event = json.loads(message)
                for point in event.get("points", ()):
                    seen[i].setdefault(point["step"], now)
                if event["seq"] - acked >= ACK_EVERY or event.get("kind") != "progress":
                    acked = event["seq"]
                    await ws.send(json.dumps({"ack": acked}))
        except Exception:
            return

    tasks = [asyncio.create_task(watch(i, ws)) for i, ws in enumerate(sockets)]
    ready.put(n)
    while not stop.is_set():
        await asyncio.sleep(0.1)
    for ws in sockets:
        await ws.close()
    for task in tasks:
        task.cancel()
    return seen


async def _polling_clients(base: str, job_id: int, cookie: str, n: int, ready, stop, after: int):
    import httpx

    seen: list[dict[int, float]] = [{} for _ in range(n)]
    requests = [0]
    headers = {"Cookie": f"sessionid={cookie}", "HX-Request": "true"}
    limits = httpx.Limits(max_connections=n, max_keepalive_connections=n)

    async def watch(i: int, client) -> None:
        last = after
        await asyncio.sleep(POLL_SECONDS * i / n)  # pages opened at different moments
        while not stop.is_set():
            tick = time.monotonic()
            try:
                await client.get(f"{base}/training/jobs/{job_id}/progress/", headers=headers)
                response = await client.get(
                    f"{base}/api/training/jobs/{job_id}/metrics?after={last}", headers=headers
                )
                requests[0] += 2
                now = time.monotonic()
                for point in response.json().get("points", []):
                    seen[i].setdefault(point["step"], now)
                    last = max(last, point["step"])
            except (httpx.HTTPError, ValueError):
                pass
            await asyncio.sleep(max(0.0, POLL_SECONDS - (time.monotonic() - tick)))

    async with httpx.AsyncClient(limits=limits, timeout=120) as client:
        tasks = [asyncio.create_task(watch(i, client)) for i in range(n)]
        ready.put(n)
        while not stop.is_set():
            await asyncio.sleep(0.1)
        await asyncio.gather(*tasks, return_exceptions=True)
    return seen, requests[0]


def client_process(
    mode: str, base: str, job_id: int, cookie: str, n: int, after: int, ready, stop, results
) -> None:
    """One process of watchers (spawned: no Django here); CLOCK_MONOTONIC is shared with the writer's process."""
    if mode == "live":
        seen, requests = asyncio.run(_live_clients(base, job_id, cookie, n, ready, stop)), 0
    else:
        seen, requests = asyncio.run(_polling_clients(base, job_id, cookie, n, ready, stop, after))
    results.put((seen, requests))


def run_round(mode: str, base: str, job_id: int, cookie: str, clients: int, writer: Writer, proc) -> dict:
    import multiprocessing

    ctx = multiprocessing.get_context("spawn")
    ready, results, stop = ctx.Queue(), ctx.Queue(), ctx.Event()
    sizes = [clients // CLIENT_PROCESSES + (i < clients % CLIENT_PROCESSES) for i in range(CLIENT_PROCESSES)]
    procs = [
        ctx.Process(
            target=client_process,
            args=(mode, base, job_id, cookie, n, writer.first_step - 1, ready, stop, results),
            daemon=True,
        )
        for n in sizes
        if n
    ]
    for p in procs:
        p.start()
    for _ in procs:
        ready.get(timeout=600)
    rss_connected, cpu0 = server_usage(proc)
    writer.start()
    writer.join()
    time.sleep(
        POLL_SECONDS + 3.0
    )  # the last events, one more poll period: late arrivals count as late, not lost
    rss_after, cpu1 = server_usage(proc)
    stop.set()
    seen, requests = [], 0
    for _ in procs:
        part, count = results.get(timeout=600)
        seen += part
        requests += count
    for p in procs:
        p.join(30)
    delays = [c[s] - t for c in seen for s, t in writer.started.items() if s in c]
    return {
        "delays": delays, "missing": len(seen) * len(writer.started) - len(delays), "requests": requests,
        "cpu": cpu1 - cpu0, "rss_connected": rss_connected, "rss_after": rss_after,
    }  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=200)
    parser.add_argument("--writes", type=int, default=15, help="progress writes per round")
    parser.add_argument(
        "--rate",
        type=float,
        default=0.5,
        help="progress writes a second (a job writes every RMN_TRAINING_REPORT_SECONDS=2 s)",
    )
    parser.add_argument("--rounds", type=int, default=2, help="live/polling pairs, interleaved")
    args = parser.parse_args()

    base_url = os.environ.get("DATABASE_URL", "")
    db_url = prepare_database(base_url, BENCH_DB, __file__)
    setup_django(db_url)
    job, cookie = make_job_and_session()
    import redis

    from rmnconsole.core import live

    # the scratch database restarts ids at 1: forget sockets an earlier run left in this job's group
    redis.Redis.from_url(os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")).delete(
        f"rmn-live:group:{live.group_for(job)}"
    )

    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": db_url,
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "PYTHONUNBUFFERED": "1",
    }
    log = open(REPO / "var" / "bench_live_daphne.log", "w")  # noqa: SIM115 - open for the server's lifetime
    proc = subprocess.Popen(
        [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port), "rmnconsole.asgi:application"],
        cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(600):
            try:
                with urllib.request.urlopen(f"{base}/accounts/login/", timeout=2):
                    break
            except OSError:
                time.sleep(0.2)
        rss_idle, _ = server_usage(proc)
        results: dict[str, list[dict]] = {"live": [], "polling": []}
        step = 1
        for _round in range(args.rounds):
            for mode in ("live", "polling"):
                writer = Writer(job.pk, step, args.writes, args.rate)
                step += args.writes
                result = run_round(mode, base, job.pk, cookie, args.clients, writer, proc)
                results[mode].append(result)
                print(
                    f"{mode:8s} round {_round + 1}: p50 {_pct(result['delays'], 0.5) * 1000:7.1f} ms  "
                    f"p99 {_pct(result['delays'], 0.99) * 1000:7.1f} ms  missing {result['missing']:5d}  "
                    f"requests {result['requests']:6d}  server CPU {result['cpu']:5.1f} s",
                    flush=True,
                )
    finally:
        proc.terminate()
        proc.wait(10)
        log.close()

    seconds = args.writes / args.rate
    print(
        f"\n{args.clients} watchers, {args.writes} writes per round ({seconds:.0f} s), {args.rounds} rounds each"
    )
    for mode in ("live", "polling"):
        rounds = results[mode]
        p50 = statistics.median(_pct(r["delays"], 0.5) for r in rounds) * 1000
        p99 = statistics.median(_pct(r["delays"], 0.99) for r in rounds) * 1000
        requests = statistics.median(r["requests"] for r in rounds)
        cpu = statistics.median(r["cpu"] for r in rounds)
        missing = sum(r["missing"] for r in rounds)
        print(
            f"{mode:8s} delay p50 {p50:7.1f} ms  p99 {p99:7.1f} ms  missing {missing}  "
            f"HTTP requests {requests:.0f} ({requests / seconds:.1f}/s)  server CPU {cpu:.1f} s"
        )
    live_p99 = statistics.median(_pct(r["delays"], 0.99) for r in results["live"]) * 1000
    poll_p99 = statistics.median(_pct(r["delays"], 0.99) for r in results["polling"]) * 1000
    live_cpu = statistics.median(r["cpu"] for r in results["live"])
    poll_cpu = statistics.median(r["cpu"] for r in results["polling"])
    print(f"server RSS: idle {rss_idle:.0f} MiB, {args.clients} sockets connected "
          f"{max(r['rss_connected'] for r in results['live']):.0f} MiB, after the run "
          f"{max(r['rss_after'] for r in results['live'] + results['polling']):.0f} MiB")  # fmt: skip
    print(
        f"ratio polling/live: p99 delay {poll_p99 / live_p99:.1f}x, server CPU {poll_cpu / max(live_cpu, 1e-9):.1f}x"
    )
    print(f"live p99 target < 500 ms: {'met' if live_p99 < 500 else 'NOT met'} ({live_p99:.0f} ms)")


if __name__ == "__main__":
    main()
