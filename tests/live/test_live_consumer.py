"""The live-update socket: who may open it, what it relays, and how it bounds a browser that does not keep up.

Real pieces only: the project's ASGI app (origin check, session auth, routing), the channels-redis layer on the
test Redis, and events published by the worker-side code (`write_progress`, `append_log`, `transition`)."""

from __future__ import annotations

from asgiref.sync import async_to_sync
from channels.testing import WebsocketCommunicator

from rmnconsole.core import live
from rmnconsole.live_consumer import CLOSE_FORBIDDEN, CLOSE_UNAUTHENTICATED, WINDOW

ORIGIN = b"http://testserver"


def _communicator(path: str, *, cookie: str | None = None, origin: bytes | None = ORIGIN):
    from rmnconsole.asgi import application

    headers = [(b"host", b"testserver")]
    if origin is not None:
        headers.append((b"origin", origin))
    if cookie:
        headers.append((b"cookie", f"sessionid={cookie}".encode()))
    return WebsocketCommunicator(application, path, headers=headers)


def _path(job) -> str:
    return f"/ws/live/training.trainingjob/{job.pk}/"


def _refused(path: str, **kwargs):
    async def scenario():
        communicator = _communicator(path, **kwargs)
        connected, code = await communicator.connect(timeout=10)
        await communicator.disconnect()
        return connected, code

    return async_to_sync(scenario)()


def _accepted(path: str, **kwargs) -> bool:
    async def scenario():
        communicator = _communicator(path, **kwargs)
        connected, _ = await communicator.connect(timeout=10)
        await communicator.disconnect()
        return connected

    return async_to_sync(scenario)()


def test_anonymous_cross_origin_and_inactive_sockets_are_closed(running_job, cookie, user):
    path = _path(running_job)
    assert _accepted(
        path, cookie=cookie
    )  # the same socket, signed in and from the console's origin, is let in
    assert _refused(path) == (False, CLOSE_UNAUTHENTICATED)  # no session
    assert _refused(path, cookie=cookie, origin=b"https://evil.example")[0] is False  # another site's page
    assert _refused(path, cookie=cookie, origin=None)[0] is False  # no Origin header at all
    user.is_active = False
    user.save(update_fields=["is_active"])
    assert _refused(path, cookie=cookie) == (False, CLOSE_UNAUTHENTICATED)


def test_an_object_the_page_would_not_show_is_refused(running_job, cookie, user):
    missing = f"/ws/live/training.trainingjob/{running_job.pk + 999}/"
    assert _refused(missing, cookie=cookie) == (False, CLOSE_FORBIDDEN)  # the job page would answer 404
    # a kind nobody registered (no page check to reuse) is refused, and the dashboard is only pk 0
    assert _refused(f"/ws/live/auth.user/{user.pk}/", cookie=cookie) == (False, CLOSE_FORBIDDEN)
    assert _refused("/ws/live/monitoring.dashboard/1/", cookie=cookie) == (False, CLOSE_FORBIDDEN)


def test_worker_writes_reach_the_socket_in_order(running_job, cookie):
    """Progress with loss points and log lines, a log append and the final status arrive as they were written."""
    from training.engine.callback import MetricPoint, Progress
    from training.models import TrainingJob
    from training.worker_sync import append_log, write_progress

    async def scenario():
        from asgiref.sync import sync_to_async

        communicator = _communicator(_path(running_job), cookie=cookie)
        connected, _ = await communicator.connect(timeout=10)
        assert connected
        hello = await communicator.receive_json_from(timeout=10)
        assert hello["kind"] == "hello" and hello["seq"] == 1

        def work():
            progress = Progress(
                step=5, total_steps=40, epoch=0.5, tokens_per_second=1234.5, eta_seconds=12.0, num_tokens=99,
                metrics=[MetricPoint(step=5, loss=2.5), MetricPoint(step=5, eval_loss=2.7)],
                log_lines=["step 5 done"],
            )  # fmt: skip
            assert write_progress(running_job.pk, progress)
            append_log(running_job.pk, "checkpoint saved")
            job = TrainingJob.objects.get(pk=running_job.pk)
            assert job.finish(TrainingJob.Status.COMPLETED, "done here")

        await sync_to_async(work)()
        events = [await communicator.receive_json_from(timeout=10) for _ in range(3)]
        await communicator.disconnect()
        return events

    progress, log_event, status = async_to_sync(scenario)()
    assert progress["kind"] == "progress" and progress["step"] == 5 and progress["total_steps"] == 40
    assert progress["tokens_per_second"] == 1234.5 and progress["eta_seconds"] == 12.0
    assert [(p["step"], p["loss"], p["eval_loss"]) for p in progress["points"]] == [
        (5, 2.5, None),
        (5, None, 2.7),
    ]
    # log fragments carry where they sit in the log, so the page appends each exactly once
    log = TrainingJob.objects.get(pk=running_job.pk).log
    first, second = progress["log"], log_event
    assert (first["start"], first["end"]) == (0, len(first["text"])) and "step 5 done" in first["text"]
    assert second["kind"] == "log" and "checkpoint saved" in second["text"]
    assert (second["start"], second["end"]) == (first["end"], len(log)) and log == first["text"] + second[
        "text"
    ]
    assert status == {"kind": "status", "status": "completed", "reason": "done here", "seq": 4}
    assert [e["seq"] for e in (progress, log_event, status)] == [2, 3, 4]


def test_a_browser_that_stops_acknowledging_gets_at_most_a_window_then_one_resync(running_job, cookie):
    """Bounded fan-out: unacknowledged events stop at WINDOW; the rest are dropped and replaced by a resync marker
    once the browser acknowledges again (it then re-reads the database)."""
    group = live.group_for(running_job)
    extra = 10

    async def scenario():
        from asgiref.sync import sync_to_async

        communicator = _communicator(_path(running_job), cookie=cookie)
        assert (await communicator.connect(timeout=10))[0]
        await communicator.receive_json_from(timeout=10)  # hello, seq 1: unacknowledged from here on

        def flood():
            for n in range(WINDOW + extra):
                assert live.publish(group, {"kind": "log", "text": f"line {n}\n"})
                assert live.flush_pending(10)

        await sync_to_async(flood)()
        received = [await communicator.receive_json_from(timeout=10) for _ in range(WINDOW - 1)]
        # the marker proves every event published before it was handled: nothing more came past the window
        await communicator.send_json_to({"ping": True})
        assert await communicator.receive_nothing(timeout=0.5)
        await communicator.send_json_to({"ack": received[-1]["seq"]})
        resync = await communicator.receive_json_from(timeout=10)
        await communicator.disconnect()
        return received, resync

    received, resync = async_to_sync(scenario)()
    assert [e["text"] for e in received] == [f"line {n}\n" for n in range(WINDOW - 1)]
    assert resync["kind"] == "resync" and resync["dropped"] == extra + 1


def test_the_layer_reads_from_redis_longer_than_it_blocks_waiting():
    """redis-py 8's default 5 s read timeout raced channels-redis's 5 s BZPOPMIN and killed idle sockets."""
    from channels.layers import channel_layers

    layer = channel_layers.make_backend("default")
    pool = layer.create_pool(0)
    assert pool.make_connection().socket_timeout > layer.brpop_timeout
