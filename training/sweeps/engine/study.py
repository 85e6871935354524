"""Sampler, pruner and objective choices of a sweep, and how a finished trial's numbers become Optuna values."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from training.sweeps.engine.space import SearchSpace, SpaceError

SAMPLERS = ("tpe", "random", "grid")
PRUNERS = ("none", "median", "hyperband", "threshold")
DIRECTIONS = ("minimize", "maximize")


@dataclass(frozen=True)
class Objective:
    """Where a trial's value comes from: a key of the finished job's final metrics, or — when `measured` — a value
    a later app measures after training (an eval-suite score, generation latency; see training.sweeps.measures)."""

    name: str
    metric: str  # key in the finished job's final_metrics (or in what the measurement returns)
    direction: str
    label: str
    needs_eval_split: bool = False
    measured: bool = False  # True: the value needs work after training (it can be pending for a while)


OBJECTIVES: dict[str, Objective] = {
    "eval_loss": Objective("eval_loss", "eval_loss", "minimize", "eval loss", needs_eval_split=True),
}
# Second objectives for a Pareto front: measured on the finished trial.
SECOND_OBJECTIVES: dict[str, Objective] = {
    "adapter_size": Objective("adapter_size", "adapter_size_bytes", "minimize", "adapter size (bytes)"),
}


def build_sampler(name: str, space: SearchSpace, seed: int | None):
    import optuna

    if name == "tpe":
        # Few trials per sweep: start modelling after 4 random ones rather than Optuna's default 10.
        return optuna.samplers.TPESampler(seed=seed, n_startup_trials=4, multivariate=True)
    if name == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    if name == "grid":
        # The grid's points are enqueued on the study when it is created (grid_points); Optuna's GridSampler
        # would call study.stop() on exhaustion, which ask-and-tell outside optimize() cannot take.
        return optuna.samplers.RandomSampler(seed=seed)
    raise SpaceError("sampler", f"sampler must be one of {', '.join(SAMPLERS)}")


def grid_points(space: SearchSpace, seed: int | None) -> list[dict[str, Any]]:
    """Every point of a finite space, in a seeded shuffled order (a budget below the grid size samples it evenly)."""
    import itertools
    import random

    grid = space.grid()
    names = list(grid)
    points = [dict(zip(names, combo, strict=True)) for combo in itertools.product(*grid.values())]
    random.Random(seed).shuffle(points)
    return points


def build_pruner(
    name: str, *, threshold: float | None = None, min_resource: int = 1, max_resource: Any = "auto"
):
    import optuna

    if name in ("none", "", None):
        return optuna.pruners.NopPruner()
    if name == "median":
        return optuna.pruners.MedianPruner(n_startup_trials=2, n_warmup_steps=0)
    if name == "hyperband":
        return optuna.pruners.HyperbandPruner(min_resource=min_resource, max_resource=max_resource)
    if name == "threshold":
        if threshold is None:
            raise SpaceError("pruner_threshold", "the threshold pruner needs pruner_threshold")
        return optuna.pruners.ThresholdPruner(upper=float(threshold))
    raise SpaceError("pruner", f"pruner must be one of {', '.join(PRUNERS)}")


def trial_values(
    final_metrics: dict[str, Any], objective: Objective, second: Objective | None
) -> list[float] | None:
    """The values to tell Optuna for a completed trial, or None when the metric is missing (the trial failed)."""
    values = []
    for obj in (objective, second):
        if obj is None:
            continue
        value = final_metrics.get(obj.metric)
        if value is None:
            return None
        values.append(float(value))
    return values
