"""Reads for the sweep page, API and CLI: trials with their jobs, best so far, and the chart series (history,
parameter importance, parallel coordinates, Pareto front), all from Optuna's storage and the job rows."""

from __future__ import annotations

import logging
from typing import Any

from training.models import TrainingJob
from training.sweeps.engine.space import decode_params
from training.sweeps.engine.study import OBJECTIVES, SECOND_OBJECTIVES
from training.sweeps.models import Sweep
from training.sweeps.study import asked, load_study

log = logging.getLogger(__name__)


def _trial_rows(sweep: Sweep, trials) -> list[dict[str, Any]]:
    jobs = {j.sweep_trial: j for j in TrainingJob.objects.filter(sweep=sweep)}
    rows = []
    for t in sorted(trials, key=lambda t: t.number):
        job = jobs.get(t.number)
        rows.append(
            {
                "number": t.number,
                "state": t.state.name,
                "params": decode_params(t.params),
                "values": list(t.values) if t.values else None,
                "intermediate": {int(k): v for k, v in t.intermediate_values.items()},
                "job_id": job.pk if job else None,
                "job_status": job.status if job else "",
                "progress_pct": job.progress_pct if job else 0.0,
                "reason": (job.status_reason if job else "") or t.user_attrs.get("status_reason", ""),
            }
        )
    return rows


def _history(sweep: Sweep, rows: list[dict]) -> list[dict[str, Any]]:
    better = min if sweep.direction == "minimize" else max
    best, out = None, []
    for row in rows:
        if row["state"] != "COMPLETE":
            continue
        value = row["values"][0]
        best = value if best is None else better(best, value)
        out.append({"number": row["number"], "value": value, "best": best})
    return out


def _importance(study, complete: int) -> dict[str, float]:
    if complete < 2:
        return {}
    try:
        import warnings

        import optuna

        sign = 1.0 if study.directions[0].name == "MINIMIZE" else -1.0
        with (
            warnings.catch_warnings()
        ):  # it warns that it ranks low targets first: the sign takes care of that
            warnings.simplefilter("ignore")
            importances = optuna.importance.get_param_importances(study, target=lambda t: sign * t.values[0])
        return {k: round(v, 4) for k, v in importances.items()}
    except Exception as exc:  # e.g. every completed trial had the same params
        log.info("no parameter importance yet: %s", exc)
        return {}


def _pareto(sweep: Sweep, study, rows: list[dict]) -> dict[str, Any]:
    if not sweep.second_objective:
        return {}
    points = [
        {"number": r["number"], "x": r["values"][1], "y": r["values"][0]}
        for r in rows
        if r["state"] == "COMPLETE"
    ]
    front = {t.number for t in study.best_trials} if points else set()
    return {
        "x_label": SECOND_OBJECTIVES[sweep.second_objective].label,
        "y_label": OBJECTIVES[sweep.objective].label,
        "points": points,
        "front": sorted(front),
    }


def sweep_summary(sweep: Sweep) -> dict[str, Any]:
    """Everything the sweep page, the API and `manage.py sweep` show about a sweep, from the storage as it is now."""
    study = load_study(sweep)
    trials = asked(study.get_trials(deepcopy=False))
    rows = _trial_rows(sweep, trials)
    complete = [r for r in rows if r["state"] == "COMPLETE"]
    names = list(sweep.search_space)
    return {
        "objective": OBJECTIVES[sweep.objective].label,
        "direction": sweep.direction,
        "trials": rows,
        "counts": {
            state: sum(1 for r in rows if r["state"] == state)
            for state in ("RUNNING", "COMPLETE", "PRUNED", "FAIL")
        },
        "history": _history(sweep, rows),
        "importance": _importance(study, len(complete)),
        "parallel": {
            "params": names,
            "rows": [
                {
                    "number": r["number"],
                    "params": {n: r["params"].get(n) for n in names},
                    "value": r["values"][0],
                }
                for r in complete
            ],
        },
        "pareto": _pareto(sweep, study, rows),
    }
