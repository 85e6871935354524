"""Typed environment readers fail loudly; user paths stay inside the data root."""

import os

import pytest

from rmnconsole import env
from rmnconsole.core.paths import PathOutsideDataRoot, resolve_inside


def test_envbool_rejects_garbage(monkeypatch):
    monkeypatch.setenv("X_FLAG", "maybe")
    with pytest.raises(env.ConfigError, match="X_FLAG='maybe' is not a boolean"):
        env.envbool("X_FLAG", False)
    monkeypatch.setenv("X_FLAG", "Yes")
    assert env.envbool("X_FLAG", False) is True


def test_envint_range(monkeypatch):
    monkeypatch.setenv("X_INT", "0")
    with pytest.raises(env.ConfigError, match="below the minimum 1"):
        env.envint("X_INT", 5, minimum=1)
    monkeypatch.setenv("X_INT", "ten")
    with pytest.raises(env.ConfigError, match="not an integer"):
        env.envint("X_INT", 5)


def test_secret_from_file(monkeypatch, tmp_path):
    secret = tmp_path / "secret"
    secret.write_text("s3cr3t\n")
    monkeypatch.setenv("X_SECRET_FILE", str(secret))
    assert env.envstr("X_SECRET") == "s3cr3t"
    monkeypatch.setenv("X_SECRET_FILE", str(tmp_path / "missing"))
    with pytest.raises(env.ConfigError, match="cannot be read"):
        env.envstr("X_SECRET")


def test_settings_module_fails_on_bad_value():
    import subprocess
    import sys

    result = subprocess.run(
        [sys.executable, "-c", "import rmnconsole.settings"],
        env={**os.environ, "DEBUG": "perhaps"},
        capture_output=True,
        text=True,
    )
    assert result.returncode != 0
    assert "DEBUG='perhaps' is not a boolean" in result.stderr


def test_resolve_inside_refuses_escapes(data_root):
    datasets = data_root / "datasets"
    datasets.mkdir()
    (datasets / "ok.jsonl").write_text("{}\n")
    assert resolve_inside("datasets/ok.jsonl", datasets) == datasets / "ok.jsonl"
    for bad in ("datasets/../../etc/passwd", "/etc/passwd", "", "datasets/\x00x"):
        with pytest.raises(PathOutsideDataRoot):
            resolve_inside(bad, datasets)
    (datasets / "link.jsonl").symlink_to("/etc/hostname")
    with pytest.raises(PathOutsideDataRoot):
        resolve_inside("datasets/link.jsonl", datasets)
