"""The periodic check (the job-recovery loop's upkeep for pipeline steps, every RMN_RECONCILE_SECONDS): new data in
watched folders, cron schedules that came due, waiting steps whose jobs ended. `now` is a parameter so that tests
drive the clock."""

from __future__ import annotations

import datetime as dt
import logging

from django.db import IntegrityError, transaction
from django.utils import timezone

from federation.pipelines import chain
from federation.pipelines.build import folder_files
from federation.pipelines.models import Pipeline, PipelineRun, WatchedFile
from federation.pipelines.services import next_fire, trigger_run
from rmnconsole.core.errors import ServiceError

log = logging.getLogger(__name__)


def check_folder(pipeline: Pipeline, now: dt.datetime) -> PipelineRun | None:
    """New content (by hash) among the folder's stable files triggers one run; the same data never retrains."""
    files, _busy = folder_files(pipeline, now=now.timestamp())
    known = set(WatchedFile.objects.filter(pipeline=pipeline).values_list("sha256", flat=True))
    fresh, seen = [], set()
    for f in files:
        if f["sha256"] not in known and f["sha256"] not in seen:
            seen.add(f["sha256"])
            fresh.append(f)
    if not fresh:
        return None
    try:
        with transaction.atomic():
            # Two checks at once: the second insert of the same content fails and that check triggers nothing.
            rows = WatchedFile.objects.bulk_create(
                [
                    WatchedFile(
                        pipeline=pipeline,
                        path=f["path"],
                        sha256=f["sha256"],
                        size=f["size"],
                        mtime=f["mtime"],
                    )
                    for f in fresh
                ]
            )
            run = trigger_run(
                pipeline,
                trigger=PipelineRun.Trigger.WATCH,
                source_files=[{k: f[k] for k in ("path", "sha256", "size")} for f in fresh],
            )
            WatchedFile.objects.filter(pk__in=[r.pk for r in rows]).update(run=run)
    except IntegrityError:
        return None
    log.info("pipeline %s: new data %s → run %s", pipeline.name, [f["path"] for f in fresh], run.number)
    return run


def check_schedule(pipeline: Pipeline, now: dt.datetime) -> PipelineRun | None:
    due = pipeline.next_run_at
    if not pipeline.schedule or due is None or now < due:
        return None
    # Compare-and-set on next_run_at: of two checks at once, one fires.
    claimed = Pipeline.objects.filter(pk=pipeline.pk, next_run_at=due).update(
        next_run_at=next_fire(pipeline.schedule, now)
    )
    if not claimed:
        return None
    return trigger_run(pipeline, trigger=PipelineRun.Trigger.SCHEDULE)


def tick(now: dt.datetime | None = None) -> dict[str, int]:
    """One pass over every enabled pipeline; one pipeline's trouble (a folder removed …) never stops the others."""
    now = now or timezone.now()
    counts = {"watch_runs": 0, "scheduled_runs": 0, "steps_moved": 0}
    for pipeline in Pipeline.objects.filter(enabled=True).select_related("mapping__source"):
        try:
            if pipeline.source_kind == Pipeline.Source.FOLDER:
                counts["watch_runs"] += check_folder(pipeline, now) is not None
            counts["scheduled_runs"] += check_schedule(pipeline, now) is not None
        except ServiceError as exc:
            log.warning("pipeline %s: %s", pipeline.name, exc.message)
        except Exception:
            log.exception("pipeline %s: the periodic check failed", pipeline.name)
        chain.start_next(pipeline.pk)
    counts["steps_moved"] = chain.advance_waiting()
    return counts
