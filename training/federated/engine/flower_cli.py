"""Talk to a SuperLink the way Flower documents it: the `flwr` CLI (run, ls, stop, supernode ls/register).

Each console process keeps its own FLWR_HOME (a `config.toml` naming one SuperLink connection), so nothing is
read from or written to the user's ~/.flwr. Every call returns parsed JSON (`--format json`) or raises
FlowerError with Flower's own one-line reason.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

CONNECTION = "console"
APP_DIR = Path(__file__).resolve().parent / "flower_app"
REPO_ROOT = Path(__file__).resolve().parents[3]


class FlowerError(RuntimeError):
    """A Flower command failed; the message is Flower's reason (no traceback)."""


@dataclass(frozen=True)
class SuperLinkAddress:
    address: str  # host:port of the SuperLink's Control API
    insecure: bool = True  # loopback/demo only; production uses TLS (root_certificates)
    root_certificates: str = ""


def flwr_bin(name: str = "flwr") -> str:
    candidate = Path(sys.executable).parent / name
    return str(candidate) if candidate.exists() else name


def child_env(home: Path | None = None) -> dict[str, str]:
    """The environment of Flower processes: the console's code importable (the Flower App's modules import it)."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO_ROOT), env.get("PYTHONPATH", "")) if p)
    # The SuperLink/SuperNode start `flower-superexec` / `flwr-clientapp` by name: this venv's bin goes first.
    env["PATH"] = os.pathsep.join((str(Path(sys.executable).parent), env.get("PATH", "")))
    env.setdefault("FLWR_TELEMETRY_ENABLED", "0")
    env["FLWR_UPDATE_CHECK_ENABLED"] = "0"
    if home is not None:
        env["FLWR_HOME"] = str(home)
    return env


def write_home(home: Path, link: SuperLinkAddress) -> Path:
    home.mkdir(parents=True, exist_ok=True)
    lines = [
        "[superlink]",
        f'default = "{CONNECTION}"',
        "",
        f"[superlink.{CONNECTION}]",
        f'address = "{link.address}"',
    ]
    lines.append(f"insecure = {'true' if link.insecure else 'false'}")
    if link.root_certificates:
        lines.append(f"root-certificates = {json.dumps(link.root_certificates)}")
    (home / "config.toml").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return home


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    return json.dumps(str(value))  # a JSON string literal is a valid TOML basic string


class FlowerCli:
    def __init__(self, home: Path, link: SuperLinkAddress, timeout: float = 60.0):
        self.home = write_home(home, link)
        self.link = link
        self.timeout = timeout

    def call(self, *args: str, timeout: float | None = None) -> dict[str, Any]:
        cmd = [flwr_bin(), *args, "--format", "json"]
        try:
            done = subprocess.run(
                cmd,
                capture_output=True,
                text=True,
                env=child_env(self.home),
                timeout=timeout or self.timeout,
                cwd=self.home,
                check=False,
            )
        except subprocess.TimeoutExpired as exc:
            raise FlowerError(f"the SuperLink at {self.link.address} did not answer in time") from exc
        payload = _last_json(done.stdout)
        if done.returncode != 0 or payload is None or payload.get("success") is False:
            reason = (
                (payload or {}).get("error-message") or _last_line(done.stderr) or _last_line(done.stdout)
            )
            raise FlowerError(_last_line(_plain(reason)) or f"flwr {args[0]} failed (exit {done.returncode})")
        return payload

    def start_run(self, overrides: dict[str, Any], folder: Path) -> int:
        config = folder / "run-config.toml"
        config.write_text(
            "".join(f"{k} = {_toml_value(v)}\n" for k, v in overrides.items()), encoding="utf-8"
        )
        payload = self.call("run", str(APP_DIR), CONNECTION, "--run-config", str(config))
        return int(payload["run-id"])

    def run_info(self, run_id: int) -> dict[str, Any]:
        runs = self.call("ls", CONNECTION, "--run-id", str(run_id)).get("runs", [])
        if not runs:
            raise FlowerError(f"the SuperLink knows no run {run_id}")
        return runs[0]

    def stop_run(self, run_id: int) -> None:
        self.call("stop", str(run_id), CONNECTION)

    def nodes(self) -> list[dict[str, Any]]:
        return list(self.call("supernode", "ls", CONNECTION).get("nodes", []))

    def register_node(self, public_key: Path, name: str) -> int:
        payload = self.call("supernode", "register", str(public_key), CONNECTION, "--name", name)
        return int(payload["node-id"])


def _last_json(text: str) -> dict[str, Any] | None:
    start = text.find("{")
    while start >= 0:
        try:
            value = json.loads(text[start:])
            return value if isinstance(value, dict) else None
        except json.JSONDecodeError:
            start = text.find("{", start + 1)
    return None


def _last_line(text: str) -> str:
    lines = [line.strip() for line in (text or "").splitlines() if line.strip()]
    return lines[-1] if lines else ""


def _plain(text: str) -> str:
    import re

    return re.sub(r"\x1b\[[0-9;]*m", "", str(text)).strip()
