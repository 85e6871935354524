"""Where progress is already written, live events leave too: the import job's progress writer and status changes
(any kind on the queued-job base), the monitor's samples; and the pages' `{% live_refresh %}` switch."""

from __future__ import annotations

from asgiref.sync import async_to_sync, sync_to_async
from channels.testing import WebsocketCommunicator
from django.template import Context, Template
from django.utils import timezone


def _events(path: str, cookie: str, work, count: int) -> list[dict]:
    from rmnconsole.asgi import application

    async def scenario():
        headers = [
            (b"host", b"testserver"),
            (b"origin", b"http://testserver"),
            (b"cookie", f"sessionid={cookie}".encode()),
        ]
        communicator = WebsocketCommunicator(application, path, headers=headers)
        connected, code = await communicator.connect(timeout=10)
        assert connected, code
        assert (await communicator.receive_json_from(timeout=10))["kind"] == "hello"
        await sync_to_async(work)()
        events = [await communicator.receive_json_from(timeout=10) for _ in range(count)]
        await communicator.disconnect()
        return events

    return async_to_sync(scenario)()


def test_a_model_import_streams_its_progress_and_status(transactional_db, cookie):
    from training.model_import.models import ModelImport
    from training.model_import.tasks import _ProgressWriter

    job = ModelImport.objects.create(source="pypi:x==1", source_kind="wheel", name="live-import")

    def work():
        assert job.claim("test-host:1")
        _ProgressWriter(job)("publish", 42.04, "moving files")
        assert job.finish(ModelImport.Status.FAILED, "no such wheel")

    running, progress, failed = _events(f"/ws/live/training.modelimport/{job.pk}/", cookie, work, 3)
    assert (running["kind"], running["status"]) == ("status", "running")
    assert progress == {
        "kind": "progress",
        "stage": "publish",
        "progress_pct": 42.0,
        "message": "moving files",
        "seq": 3,
    }
    assert (failed["status"], failed["reason"]) == ("failed", "no such wheel")


def test_a_monitor_sample_reaches_the_dashboard_socket(transactional_db, cookie):
    from monitoring import services
    from monitoring.engine.sampler import GpuReading, HostReading, Snapshot

    snapshot = Snapshot(
        at=timezone.now(),
        host=HostReading(12.5, 1e3, 4e3),
        gpus=[GpuReading(index=0, name="L4", utilization=77.0)],
    )

    (event,) = _events(
        "/ws/live/monitoring.dashboard/0/", cookie, lambda: services.record_snapshot("gpu-7", snapshot), 1
    )
    assert event["kind"] == "sample" and event["host"] == "gpu-7"
    assert event["latest"]["cpu_percent"] == 12.5 and event["latest"]["gpus"][0]["utilization"] == 77.0


def test_live_refresh_subscribes_when_live_updates_are_on_and_polls_when_off(settings):
    template = Template(
        '{% load live_tags %}<div id="x"{% live_refresh "federation.abtest" 7 "every 2s" %}></div>'
    )
    live = template.render(Context())
    assert 'hx-trigger="rmn:live"' in live and 'data-live-topic="federation.abtest"' in live
    assert 'data-live-pk="7"' in live and 'data-live-poll="every 2s"' in live
    settings.RMN_LIVE_UPDATES = False
    assert template.render(Context()) == '<div id="x" hx-trigger="every 2s"></div>'
