"""Objectives measured after a trial's training, provided by later apps (evaluation registers an eval-suite score
and generation latency from federation's AppConfig.ready()). Training never imports them: it asks this registry.

A measurement may take a while (an eval run on the inference queue): until it is done the trial stays running in
the study, and the provider tells the sweep when its work ended (training.sweeps.trials.trial_ended).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from rmnconsole.core.errors import ServiceError
from training.sweeps.engine.study import OBJECTIVES, SECOND_OBJECTIVES, Objective


@dataclass(frozen=True)
class Measurement:
    """Pending (work queued or running), an error (the trial fails with it), or values by Objective.metric."""

    values: dict[str, float] = field(default_factory=dict)
    pending: bool = False
    error: str = ""


@dataclass(frozen=True)
class MeasuredObjective:
    objective: Objective
    # options from the sweep request ({"suite": ...}) → the options to store, or ServiceError with the reason
    check: Callable[[dict[str, Any]], dict[str, Any]]
    # (finished trial job, its adapter, stored options + "may_start") → Measurement; starts the work on first call
    # unless may_start is False (the sweep has ended)
    measure: Callable[[Any, Any, dict[str, Any]], Measurement]


MEASURED: dict[str, MeasuredObjective] = {}


def register_objective(measured: MeasuredObjective, *, first: bool = True, second: bool = False) -> None:
    """Offer an objective measured after training as the sweep's objective and/or as a Pareto second objective."""
    name = measured.objective.name
    MEASURED[name] = measured
    if first:
        OBJECTIVES[name] = measured.objective
    if second:
        SECOND_OBJECTIVES[name] = measured.objective


def check_options(names: list[str], options: dict[str, Any]) -> dict[str, Any]:
    """The stored options for the measured objectives among `names` ({} when none is measured)."""
    stored: dict[str, Any] = {}
    for name in names:
        if name in MEASURED:
            stored.update(MEASURED[name].check(dict(options)))
    if not stored and any(v not in (None, "") for v in options.values()):
        raise ServiceError(
            "objective_suite applies only to an objective measured on an eval suite", field="objective_suite"
        )
    return stored


def measure_trial(
    job: Any, adapter: Any, objectives: list[Objective], options: dict[str, Any]
) -> Measurement:
    """Measure every measured objective of a completed trial (values merged; pending or error if any is)."""
    values: dict[str, float] = {}
    pending = False
    for objective in objectives:
        if objective.name not in MEASURED:
            continue
        if adapter is None:
            return Measurement(error="the trial registered no adapter to measure")
        got = MEASURED[objective.name].measure(job, adapter, options)
        if got.error:
            return got
        pending = pending or got.pending
        values.update(got.values)
    return Measurement(values=values, pending=pending)
