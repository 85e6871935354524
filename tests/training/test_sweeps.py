"""Sweeps end to end with real RQ workers and the tiny model: best trial registered, pruning, parallel trials,
a killed worker mid-trial, restart, cancel."""

import os
import signal
from pathlib import Path

import pytest

from rmnconsole.core.paths import data_root
from training.models import Adapter, TrainingJob
from training.sweeps import services
from training.sweeps.models import Sweep

pytestmark = [pytest.mark.slow, pytest.mark.integration, pytest.mark.django_db(transaction=True)]

FIXED = {"max_steps": 4, "eval_steps": 2, "checkpoint_steps": 2, "batch_size": 4, "validation_split": 0.2}


def _spec(path, **overrides):
    spec = {
        "name": "amazon sweep",
        "adapter_type": "retailer",
        "adapter_name": "amazon_sweep",
        "base_model": "tiny-llama",
        "dataset_path": path,
        "fixed": dict(FIXED),
        "search_space": {
            "learning_rate": {"type": "log_float", "low": 1e-4, "high": 1e-2},
            "lora_r": {"type": "choice", "choices": [4, 8]},
        },
        "sampler": "random",
        "seed": 7,
        "max_trials": 3,
        "max_parallel": 1,
    }
    spec.update(overrides)
    return spec


@pytest.fixture
def dataset(write_dataset, rows, tiny_llama):
    return write_dataset("sft/sweep.jsonl", rows.messages(30))


def _sweep(pk) -> Sweep:
    return Sweep.objects.get(pk=pk)


def test_a_sweep_runs_two_trials_at_once_on_two_workers_and_registers_the_best(
    dataset, rq_worker, user, wait_for
):
    # Two objectives: eval loss and adapter size (ranks 4 and 8 give different sizes) for a Pareto front.
    spec = _spec(dataset, max_trials=2, max_parallel=2, second_objective="adapter_size")
    sweep = services.start_sweep(spec, user)
    assert sweep.status == "running" and sweep.trials.count() == 2  # both trials asked for at once
    workers = [rq_worker.start("training", name=f"w{i}") for i in range(2)]
    wait_for(lambda: _sweep(sweep.pk).status != "running", "the sweep to end", timeout=300, proc=workers[0])
    sweep.refresh_from_db()
    jobs = list(sweep.trials.order_by("sweep_trial"))
    assert [j.sweep_trial for j in jobs] == [0, 1]
    assert all(j.status == "completed" for j in jobs), [(j.status, j.status_reason) for j in jobs]
    a, b = jobs
    assert a.worker != b.worker
    assert (
        a.started_at < b.finished_at and b.started_at < a.finished_at
    )  # each started before the other ended
    assert sweep.status == "completed", sweep.status_reason
    losses = {j.sweep_trial: j.final_metrics["eval_loss"] for j in jobs}
    best = min(losses, key=losses.get)
    assert sweep.best_trial == best and sweep.best_value == pytest.approx(losses[best])
    assert (
        sweep.best_adapter.name == f"amazon_sweep-t{best}"
        and sweep.best_adapter.source_job_id == sweep.best_job_id
    )
    # The other trial's adapter was discarded (row and folder); the best one's files are in the store.
    assert list(Adapter.objects.values_list("name", flat=True)) == [f"amazon_sweep-t{best}"]
    assert (data_root() / sweep.best_adapter.path / "adapter_model.safetensors").is_file()
    assert not (data_root() / "adapters" / f"amazon_sweep-t{1 - best}").exists() or not any(
        (data_root() / "adapters" / f"amazon_sweep-t{1 - best}").iterdir()
    )
    assert "Best: trial" in sweep.status_reason
    # Each trial trained the params Optuna asked for.
    assert jobs[0].config["learning_rate"] != jobs[1].config["learning_rate"]
    summary = services.sweep_summary(sweep)
    assert [p["number"] for p in summary["history"]] == [0, 1]
    assert summary["history"][-1]["best"] == pytest.approx(losses[best])
    sizes = {j.sweep_trial: j.adapters.first() for j in jobs}
    assert [p["number"] for p in summary["pareto"]["points"]] == [0, 1]
    assert best in summary["pareto"]["front"]  # the lowest eval loss is always on the front
    assert summary["pareto"]["points"][best]["x"] == sweep.best_adapter.size_bytes
    assert sizes[best] is not None


def test_a_pruned_trial_ends_pruned_with_its_reason_and_checkpoint(dataset, rq_worker, user):
    # An eval loss is always above 0: the threshold pruner must stop the trial at its first eval (step 2 of 4).
    sweep = services.start_sweep(_spec(dataset, max_trials=1, pruner="threshold", pruner_threshold=0.0), user)
    assert rq_worker.run_burst("training").returncode == 0
    job = TrainingJob.objects.get(sweep=sweep)
    assert job.status == "pruned", (job.status, job.status_reason, job.log[-2000:])
    assert job.status_reason.startswith("Pruned at step 2 by the threshold pruner: eval loss ")
    assert job.current_step == 2 and job.is_finished and not job.is_active
    assert (data_root() / job.last_checkpoint / "trainer_state.json").is_file()
    assert not Adapter.objects.exists()
    sweep.refresh_from_db()
    assert sweep.status == "failed" and "No trial completed" in sweep.status_reason
    assert services.sweep_summary(sweep)["trials"][0]["state"] == "PRUNED"


def _dead(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] in ("Z", "X")
    except (OSError, IndexError):
        return True


def test_a_killed_worker_fails_its_trial_the_restarted_worker_goes_on_and_cancel_stops_the_rest(
    dataset, rq_worker, user, wait_for
):
    endless = {**FIXED, "max_steps": 100000, "eval_steps": 1000, "checkpoint_steps": 1000}
    sweep = services.start_sweep(_spec(dataset, max_trials=3, fixed=endless), user)
    proc = rq_worker.start("training", name="first")
    first = wait_for(
        lambda: TrainingJob.objects.filter(sweep=sweep, current_step__gte=1).first(),
        "trial 0 to train",
        proc=proc,
    )
    horse_pid = int(first.worker.rsplit(":", 1)[1])
    os.kill(proc.pid, signal.SIGKILL)
    os.kill(horse_pid, signal.SIGKILL)
    wait_for(lambda: _dead(horse_pid), "the work horse to die")
    # A new worker process: its start-up recovery pass ends the lost trial, and the sweep asks the next one.
    second = rq_worker.start("training", name="second")
    wait_for(
        lambda: TrainingJob.objects.filter(sweep=sweep, sweep_trial=1, current_step__gte=1).exists(),
        "trial 1 to train on the new worker",
        proc=second,
    )
    first.refresh_from_db()
    assert first.status == "failed" and first.status_reason.startswith("Worker lost")
    cancelled = services.cancel_sweep(sweep.pk, user)
    assert cancelled.status == "cancelled"
    wait_for(
        lambda: not TrainingJob.objects.filter(sweep=sweep, status__in=TrainingJob.ACTIVE).exists(),
        "the running trial to stop",
        proc=second,
    )
    assert TrainingJob.objects.get(sweep=sweep, sweep_trial=1).status == "cancelled"
    services.advance_sweep(sweep.pk)  # what the end hook / upkeep does: tells the study, asks nothing more
    states = [t["state"] for t in services.sweep_summary(_sweep(sweep.pk))["trials"]]
    assert states == ["FAIL", "FAIL"] and TrainingJob.objects.filter(sweep=sweep).count() == 2
