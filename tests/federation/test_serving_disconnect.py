"""A /v1 caller who hangs up cancels its request (ASGI, daphne's path): streaming and non-streaming.

Driven in-process through the ASGI application (no server, no worker process): this test plays the worker's part
with `run_batch`, which answers a cancelled request without loading a model. That a generation already under way
stops at its next token is test_serving_batch_engine's test of the same `cancelled` hook.
"""

from __future__ import annotations

import asyncio
import json
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from asgiref.sync import sync_to_async
from asgiref.testing import ApplicationCommunicator

from federation.serving import broker, services, stats, worker
from rmnconsole.models import ApiToken

pytestmark = pytest.mark.django_db(transaction=True)

WORKER = "test-hangup-worker"


@pytest.fixture
def api_key(tiny_base_models, staff_user, user):
    from training.models import Adapter

    adapter = Adapter.objects.create(
        adapter_type="retailer",
        name="hangup",
        version=1,
        base_model=tiny_base_models["tiny-llama"],
        rank=8,
        alpha=16,
        target_modules=["q_proj"],
        path="adapters/hangup-v1",
        size_bytes=1,
        sha256="0" * 64,
    )
    services.create_deployment("hangup", staff_user, adapter=adapter.pk)
    _, key = ApiToken.issue(user, name="app")
    broker.heartbeat(WORKER)  # the web side sees a live worker; this test takes the queued request itself
    yield key
    broker.forget_worker(WORKER)


def _scope(key: str) -> dict:
    path = "/v1/chat/completions"
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": [
            (b"host", b"localhost"),
            (b"content-type", b"application/json"),
            (b"authorization", f"Bearer {key}".encode()),
        ],
        "client": ("127.0.0.1", 50000),
        "server": ("localhost", 80),
    }


def _hang_up(key: str, *, stream: bool) -> tuple[str, list[dict]]:
    """Send a request, take it off the queue as a worker would, hang up; returns (target key, requests)."""
    from rmnconsole.asgi import application

    body = {
        "model": "hangup",
        "messages": [{"role": "user", "content": "hi"}],
        "max_tokens": 8,
        "stream": stream,
    }

    def queued():
        targets = sorted(broker.watched_targets())
        return broker.take_batch(targets, 8, 0, block_s=0.5) if targets else time.sleep(0.05)

    async def scenario():
        http = ApplicationCommunicator(application, _scope(key))
        await http.send_input({"type": "http.request", "body": json.dumps(body).encode()})
        deadline = time.monotonic() + 20
        taken = None
        while taken is None and time.monotonic() < deadline:
            taken = await sync_to_async(queued, thread_sensitive=False)()
        if taken is None:
            pytest.fail(f"the request never reached the queue: {await http.receive_output(timeout=5)}")
        if stream:
            start = await http.receive_output(timeout=20)
            assert start["type"] == "http.response.start" and start["status"] == 200
        await http.send_input({"type": "http.disconnect"})
        await http.wait(timeout=20)
        return taken

    # Its own thread and event loop: Playwright's sync API may have left a running loop in this one (e2e tests
    # earlier in the same process), and asgiref refuses to block a thread that has one.
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, scenario()).result()


@pytest.mark.parametrize("stream", [False, True], ids=["non-streaming", "streaming"])
def test_a_caller_who_hangs_up_cancels_its_request(api_key, stream):
    target_key, requests = _hang_up(api_key, stream=stream)
    request_id = requests[0]["id"]
    deadline = time.monotonic() + 10
    while not broker.cancelled([request_id]) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert broker.cancelled([request_id]) == {request_id}

    worker.run_batch(target_key, requests)  # the worker skips it: no model is loaded, nothing generated
    final = broker.next_reply(request_id, 1)
    assert final["finish_reason"] == "cancelled" and final["completion_tokens"] == 0
    row = next(r for r in stats.snapshot() if r["deployment"] == "hangup")
    assert row["cancelled"] == 1 and row["errors"] == 0 and row["streamed"] == int(stream)
