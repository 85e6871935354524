"""Benchmark: 200 browsers watching one running training job — live WebSocket updates against polling.

    DATABASE_URL=postgres://root@127.0.0.1:5432/postgres REDIS_URL=redis://127.0.0.1:6379/5 \\
        .venv/bin/python benchmarks/live_fanout.py [--clients 200] [--writes 40] [--rounds 2]

Builds a scratch PostgreSQL database (bench_rmn_live), starts daphne on the console's ASGI app (one process, as in
production), and signs `--clients` watchers in with a real session. The writer is the worker's own code
(`training.worker_sync.write_progress`: one UPDATE + the loss point, then the live event after commit) at 4 writes a
second. In rounds, interleaved:

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
import socket
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from benchmarks._common import prepare_database  # noqa: E402

BENCH_DB = "bench_rmn_live"
POLL_SECONDS = 2.0  # the job page's polling period
WRITES_PER_SECOND = 4.0


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


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

    def __init__(self, job_id: int, first_step: int, writes: int):
        super().__init__(daemon=True)
        self.job_id, self.first_step, self.writes = job_id, first_step, writes
        self.started: dict[int, float] = {}

    def run(self) -> None:
        from training.engine.callback import MetricPoint, Progress
        from training.worker_sync import write_progress

        for n in range(self.writes):
            step = self.first_step + n
            due = time.monotonic() + 1.0 / WRITES_PER_SECOND
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


async def live_round(base: str, job_id: int, cookie: str, clients: int, writer: Writer, proc) -> dict:
    from websockets.asyncio.client import connect

    uri = base.replace("http://", "ws://") + f"/ws/live/training.trainingjob/{job_id}/"
    seen: list[dict[int, float]] = [{} for _ in range(clients)]
    sockets = []
    for start in range(
        0, clients, 25
    ):  # connect in batches, as 200 pages would not open in the same millisecond
        batch = [
            connect(uri, origin=base, additional_headers={"Cookie": f"sessionid={cookie}"}, compression=None)
            for _ in range(start, min(clients, start + 25))
        ]
        sockets += await asyncio.gather(*batch)
    for ws in sockets:
        hello = json.loads(await ws.recv())
        assert hello["kind"] == "hello", hello
    rss_connected, cpu0 = server_usage(proc)
    if os.environ.get("BENCH_DEBUG"):
        import redis

        r = redis.Redis.from_url(os.environ["REDIS_URL"])
        print("group members", {k: r.zcard(k) for k in r.keys("*group*")})

    async def watch(i: int, ws) -> None:
        try:
            async for message in ws:
                now = time.monotonic()
                event = json.loads(message)
                if event.get("kind") == "progress":
                    for point in event.get("points", []):
                        seen[i].setdefault(point["step"], now)
                await ws.send(json.dumps({"ack": event["seq"]}))  # the page acknowledges what it handled
        except Exception as exc:
            if os.environ.get("BENCH_DEBUG"):
                print("watcher", i, "ended:", type(exc).__name__, exc)
            return

    tasks = [asyncio.create_task(watch(i, ws)) for i, ws in enumerate(sockets)]
    writer.start()
    await asyncio.to_thread(writer.join)
    await asyncio.sleep(1.5)  # the last events are on their way
    rss_after, cpu1 = server_usage(proc)
    for ws in sockets:
        await ws.close()
    for task in tasks:
        task.cancel()
    delays = [seen[i][s] - t for i in range(clients) for s, t in writer.started.items() if s in seen[i]]
    expected = clients * len(writer.started)
    if os.environ.get("BENCH_DEBUG"):
        from rmnconsole.core import live

        print(
            "publisher",
            live.stats(),
            "missing steps",
            [sorted(set(writer.started) - set(x)) for x in seen][:5],
        )
    return {
        "delays": delays, "missing": expected - len(delays), "requests": 0, "cpu": cpu1 - cpu0,
        "rss_connected": rss_connected, "rss_after": rss_after,
    }  # fmt: skip


async def polling_round(base: str, job_id: int, cookie: str, clients: int, writer: Writer, proc) -> dict:
    import httpx

    seen: list[dict[int, float]] = [{} for _ in range(clients)]
    requests = [0]
    stop = asyncio.Event()
    limits = httpx.Limits(max_connections=clients * 2, max_keepalive_connections=clients * 2)
    headers = {"Cookie": f"sessionid={cookie}", "HX-Request": "true"}
    _, cpu0 = server_usage(proc)

    async def watch(i: int, client) -> None:
        last = writer.first_step - 1
        await asyncio.sleep(POLL_SECONDS * i / clients)  # pages opened at different moments
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

    async with httpx.AsyncClient(limits=limits, timeout=60) as client:
        tasks = [asyncio.create_task(watch(i, client)) for i in range(clients)]
        writer.start()
        await asyncio.to_thread(writer.join)
        await asyncio.sleep(
            POLL_SECONDS + 1.0
        )  # one more period: every watcher gets its chance to see the end
        stop.set()
        await asyncio.gather(*tasks, return_exceptions=True)
    rss_after, cpu1 = server_usage(proc)
    delays = [seen[i][s] - t for i in range(clients) for s, t in writer.started.items() if s in seen[i]]
    return {
        "delays": delays, "missing": clients * len(writer.started) - len(delays), "requests": requests[0],
        "cpu": cpu1 - cpu0, "rss_after": rss_after,
    }  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=200)
    parser.add_argument("--writes", type=int, default=40, help="progress writes per round (4 a second)")
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

    port = _free_port()
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
                writer = Writer(job.pk, step, args.writes)
                step += args.writes
                run = live_round if mode == "live" else polling_round
                result = asyncio.run(run(base, job.pk, cookie, args.clients, writer, proc))
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

    seconds = args.writes / WRITES_PER_SECOND
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
