"""Python facade: create a pipeline, run it (optionally waiting, in this process when no worker listens), read a
run, approve or reject a held candidate (staff actions: pass user= a staff username)."""

from __future__ import annotations

from federation.pipelines import services
from federation.pipelines.api import run_out
from federation.pipelines.models import PipelineRun
from rmnconsole.core.queues import workers_listening
from rmnconsole.core.users import resolve_user


def create_pipeline(name: str, *, user=None, **settings) -> dict:
    """`settings` as services.create_pipeline takes them (suite, deployment, adapter_name, watch_path + mapping or
    dataset_name, schedule, margin …)."""
    from federation.pipelines.api import pipeline_out

    return pipeline_out(services.create_pipeline(name, resolve_user(user), **settings))


def run_pipeline(name: str, *, wait: bool = False) -> dict:
    run = services.trigger_run(name, trigger=PipelineRun.Trigger.MANUAL)
    if wait and run.status == PipelineRun.Status.RUNNING and not workers_listening("default"):
        from federation.pipelines.inline import run_here

        run = run_here(run)
    return run_out(run)


def get_pipeline_run(run_id: int) -> dict:
    return run_out(services.get_run(run_id))


def approve_pipeline_run(run_id: int, *, user=None) -> dict:
    return run_out(services.approve_run(services.get_run(run_id), resolve_user(user)))


def reject_pipeline_run(run_id: int, *, user=None) -> dict:
    return run_out(services.reject_run(services.get_run(run_id), resolve_user(user)))
