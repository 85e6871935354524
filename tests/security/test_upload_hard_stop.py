"""A real web process killed mid-upload (SIGTERM or SIGKILL, while the body streams in or during inline
validation) leaves nothing in datasets/ and no row; what it left in the staging folder the sweep removes."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from tests.conftest import REPO, worker_env
from tests.support.ports import free_port

pytestmark = pytest.mark.django_db(transaction=True)
LINES = (
    30_000  # ~4.5 MB: validated inline (RMN_DATASET_INLINE_MB 5) and larger than the 2 MB in-memory upload
)


def _body() -> bytes:
    words = ["campaign", "budget", "sponsored", "brand", "display", "offsite", "roas", "bid", "halo", "lift"]
    out = []
    for i in range(LINES):
        q = " ".join(f"{words[(i + k) % 10]}{(i * 7 + k) % 997}" for k in range(14))
        a = " ".join(f"{words[(i * 3 + k) % 10]}{(i * 11 + k) % 991}" for k in range(14))
        out.append(
            json.dumps({"messages": [{"role": "user", "content": q}, {"role": "assistant", "content": a}]})
        )
    return ("\n".join(out) + "\n").encode()


# Django's own WSGI runserver: with daphne installed, `manage.py runserver` serves ASGI, and daphne reads the whole
# request body into its own unlinked temporary file before Django sees it, so no partial upload reaches the data root.
# The hard stop below is about the WSGI path, where Django streams an upload into its staging folder.
WSGI_RUNSERVER = (
    "import sys, django; django.setup();"
    "from django.core.management import call_command;"
    "from django.core.management.commands.runserver import Command;"
    "call_command(Command(), sys.argv[1], use_reloader=False, use_threading=False)"
)


@pytest.fixture
def web(settings, tmp_path):
    port = free_port()
    log = open(tmp_path / "web.log", "w")  # noqa: SIM115 - closed below
    env = worker_env(settings) | {"RMN_DATASET_INLINE_MB": "5"}
    proc = subprocess.Popen(
        [sys.executable, "-c", WSGI_RUNSERVER, f"127.0.0.1:{port}"],
        env=env, cwd=REPO, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            break
        except OSError:
            time.sleep(0.2)
    else:
        proc.kill()
        pytest.fail("the web process did not start: " + (tmp_path / "web.log").read_text()[-2000:])
    yield proc, port
    if proc.poll() is None:
        proc.kill()
    proc.wait()
    log.close()


def _wait(condition, what: str, timeout: float = 60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.005)
    pytest.fail(f"timed out waiting for {what}")


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL], ids=["SIGTERM", "SIGKILL"])
@pytest.mark.parametrize("phase", ["receiving", "validating"])
def test_a_hard_stop_mid_upload_leaves_nothing_after_the_sweep(
    web, data_root, api_token, settings, sig, phase
):
    from datasets_app.library.services import sweep_orphan_uploads
    from datasets_app.models import Dataset

    proc, port = web
    staging = data_root / "tmp" / "uploads"
    content = _body()
    boundary = uuid.uuid4().hex
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="name"\r\n\r\nkilled\r\n'
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="killed.jsonl"\r\n'
        "Content-Type: application/octet-stream\r\n\r\n"
    ).encode()
    tail = f"\r\n--{boundary}--\r\n".encode()
    body = head + content + tail
    conn = socket.create_connection(("127.0.0.1", port))
    conn.sendall(
        (f"POST /api/datasets HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer {api_token}\r\n"
         f"Content-Type: multipart/form-data; boundary={boundary}\r\nContent-Length: {len(body)}\r\n\r\n").encode()
    )  # fmt: skip
    if phase == "receiving":
        conn.sendall(body[: len(body) * 2 // 3])
        _wait(
            lambda: staging.is_dir() and any(staging.iterdir()),
            "Django's partial upload in the staging folder",
        )
    else:
        conn.sendall(body)
        _wait(lambda: any(p.name.endswith(".jsonl.part") for p in staging.glob("*")), "the staged upload")
        time.sleep(0.05)  # into the inline validation
    os.kill(proc.pid, sig)
    proc.wait(30)
    conn.close()

    left = sorted(p.name for p in staging.iterdir())
    removed = sweep_orphan_uploads(grace_seconds=0)
    assert {f"tmp/uploads/{name}" for name in left} <= set(removed)
    assert not list(staging.iterdir())
    # Both or neither: where the stop landed after the commit, the row and its file are both there; anywhere
    # earlier (receiving, validating, renamed but not committed), neither is once the sweep has run.
    datasets = data_root / "datasets"
    on_disk = sorted(f"datasets/{p.name}" for p in datasets.iterdir()) if datasets.exists() else []
    assert on_disk == sorted(Dataset.objects.values_list("path", flat=True)), (
        "a file without a row, or a row without its file"
    )
    if phase == "receiving":
        assert on_disk == []


def test_the_sweep_keeps_recent_files_and_registered_datasets(data_root, user):
    from datasets_app.library.services import register_dataset_file, sweep_orphan_uploads
    from tests.security.world import sft_lines, write_jsonl

    dataset = register_dataset_file(
        write_jsonl(data_root / "datasets" / "kept.jsonl", sft_lines()),
        name="kept",
        user=user,
        background=False,
    )
    staging = data_root / "tmp" / "uploads"
    staging.mkdir(parents=True, exist_ok=True)
    old, fresh = staging / "old.jsonl.part", staging / "fresh.upload.jsonl"
    old.write_bytes(b"x")
    fresh.write_bytes(b"y")
    past = time.time() - 7200
    os.utime(old, (past, past))
    removed = sweep_orphan_uploads(grace_seconds=3600)
    assert removed == ["tmp/uploads/old.jsonl.part"]
    assert fresh.exists() and (data_root / dataset.path).exists()


def test_a_refused_upload_leaves_nothing(client_logged_in, api_headers, data_root):
    from django.core.files.uploadedfile import SimpleUploadedFile

    bad = SimpleUploadedFile("bad.jsonl", b"not json at all\n" * 10)
    response = client_logged_in.post("/api/datasets", {"file": bad}, **api_headers)
    assert response.status_code == 400
    for folder in ("datasets", "tmp/uploads"):
        path = Path(data_root / folder)
        assert not (path.exists() and list(path.iterdir())), folder
