"""The Django side of a sweep's Optuna study: load it from the console's database with the sweep's sampler/pruner."""

from __future__ import annotations

from rmnconsole.core.errors import NotFound
from training.sweeps.engine.space import parse_space
from training.sweeps.engine.study import (
    OBJECTIVES,
    SECOND_OBJECTIVES,
    build_pruner,
    build_sampler,
    grid_points,
)
from training.sweeps.models import Sweep
from training.sweeps.storage import get_storage


def directions(sweep: Sweep) -> list[str]:
    out = [sweep.direction]
    if sweep.second_objective:
        out.append(SECOND_OBJECTIVES[sweep.second_objective].direction)
    return out


def pruner_for(sweep: Sweep):
    steps = sweep.fixed_config.get("max_steps")
    return build_pruner(
        sweep.pruner,
        threshold=sweep.pruner_threshold,
        min_resource=int(sweep.fixed_config.get("eval_steps") or 1),
        max_resource=int(steps) if steps else "auto",
    )


def create_study(sweep: Sweep):
    import optuna

    space = parse_space(sweep.search_space)
    study = optuna.create_study(
        storage=get_storage(),
        study_name=sweep.study_name,
        directions=directions(sweep),
        sampler=build_sampler(sweep.sampler, space, sweep.seed),
        pruner=pruner_for(sweep),
    )
    if sweep.sampler == "grid":
        for point in grid_points(space, sweep.seed)[: sweep.max_trials]:
            study.enqueue_trial(point, skip_if_exists=True)
    return study


def asked(trials) -> list:
    """The trials asked for so far (a grid's enqueued points wait in the study until asked)."""
    import optuna

    return [t for t in trials if t.state != optuna.trial.TrialState.WAITING]


def load_study(sweep: Sweep, *, trials_so_far: int = 0):
    """The study with a sampler seeded for the next ask: a fresh process must not replay the first random draws."""
    import optuna

    seed = None if sweep.seed is None else sweep.seed + trials_so_far
    try:
        return optuna.load_study(
            study_name=sweep.study_name,
            storage=get_storage(),
            sampler=build_sampler(sweep.sampler, parse_space(sweep.search_space), seed),
            pruner=pruner_for(sweep),
        )
    except KeyError:  # Optuna's "Record does not exist": the study's rows were deleted from the database
        raise NotFound(
            f"Sweep {sweep.pk}'s Optuna study {sweep.study_name} is missing from the database "
            "(its trials' results are lost)"
        ) from None


def objective_label(sweep: Sweep) -> str:
    return OBJECTIVES[sweep.objective].label
