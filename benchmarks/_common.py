"""Helpers the benchmark scripts share: a throw-away PostgreSQL database and the training-run options."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
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


def training_run_parser(description: str) -> argparse.ArgumentParser:
    """The options every training benchmark takes: how many repeats of how large a run."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--rows", type=int, default=400)
    return parser
