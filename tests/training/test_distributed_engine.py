"""The distributed engine without a worker: every training type as two gloo ranks, and how failures are explained."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.training.conftest import messages_rows, preference_rows
from training.engine.config import build_config
from training.engine.ddp_files import LAUNCHER_LOG, write_rank_error
from training.engine.distributed import explain_failure, run_distributed
from training.engine.errors import DistributedFailure
from training.engine.runner import TrainingRun

TORCHRUN_SUMMARY = """torch.distributed.elastic.multiprocessing.errors.ChildFailedError:
Failures:
[1]:
  rank      : 0 (local_rank: 0)
  exitcode  : -15 (pid: 5666)  (SIGTERM)
  traceback : Signal 15 (SIGTERM) received by PID 5666
Root Cause (first observed failure):
[0]:
  rank      : 1 (local_rank: 1)
  exitcode  : -9 (pid: 5667)  (SIGKILL)
  traceback : Signal 9 (SIGKILL) received by PID 5667
"""


def _run(tmp_path: Path, model: Path, training_type: str, rows: list[dict], **config) -> TrainingRun:
    data = tmp_path / "data.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    settings = {
        "max_steps": 4,
        "batch_size": 2,
        "checkpoint_steps": 2,
        "eval_steps": 4,
        "lora_r": 4,
        "num_gpus": 2,
    }
    return TrainingRun(
        training_type=training_type,
        model_folder=model,
        dataset_file=data,
        output_dir=tmp_path / "checkpoints",
        adapter_staging_dir=tmp_path / "adapter",
        config=build_config(training_type, {**settings, **config}),
    )


@pytest.mark.slow
@pytest.mark.parametrize(
    ("training_type", "rows", "extra"),
    [
        ("dpo", preference_rows(24), {}),
        ("qlora", messages_rows(24), {"gradient_checkpointing": True}),
    ],
)
def test_every_training_type_trains_as_two_ranks(tmp_path, tiny_models, training_type, rows, extra):
    run = _run(tmp_path, tiny_models["tiny-llama"], training_type, rows, **extra)
    reports, devices, lines = [], [], []
    result = run_distributed(
        run,
        reports.append,
        lambda: False,
        nproc=2,
        folder=tmp_path / "ddp",
        report_interval=0.1,
        on_device=devices.append,
        on_line=lines.append,
    )
    assert (result.outcome, result.step, result.total_steps) == ("completed", 4, 4)
    assert [d.label for d in devices] == ["2 × DDP (gloo) cpu"]
    losses = [p.step for r in reports for p in r.metrics if p.loss is not None]
    assert losses == [1, 2, 3, 4]  # rank 0 alone reports: one point per step, none twice
    assert (run.adapter_staging_dir / "adapter_model.safetensors").is_file()
    assert result.final_metrics["eval_loss"] > 0 and result.peak_memory_bytes > 0
    assert lines[0].startswith("torchrun started 2 ranks") and lines[1].startswith(
        "ranks running: rank 0 pid"
    )


@pytest.mark.slow
def test_a_bad_dataset_fails_with_the_ranks_own_reason(tmp_path, tiny_models):
    run = _run(tmp_path, tiny_models["tiny-llama"], "dpo", messages_rows(24))  # DPO needs preference pairs
    with pytest.raises(DistributedFailure) as failure:
        run_distributed(run, lambda p: None, lambda: False, nproc=2, folder=tmp_path / "ddp")
    assert failure.value.kind == "dataset"
    assert failure.value.reason.startswith(("Rank 0 of 2 failed: Dataset", "Rank 1 of 2 failed: Dataset"))
    assert not run.adapter_staging_dir.exists()
    assert (tmp_path / "ddp" / LAUNCHER_LOG).is_file()  # kept for the post-mortem


def _error(folder: Path, rank: int, reason: str, *, comm: bool) -> None:
    write_rank_error(folder, rank, kind="error", reason=reason, traceback="tb", comm=comm)


def test_a_ranks_own_error_beats_the_echo_in_its_peers(tmp_path):
    _error(tmp_path, 0, "RuntimeError: gloo Connection reset by peer", comm=True)  # written first
    write_rank_error(
        tmp_path, 1, kind="oom", reason="Out of memory while training.", traceback="tb", comm=False
    )
    (tmp_path / LAUNCHER_LOG).write_text(TORCHRUN_SUMMARY)
    kind, reason, _ = explain_failure(tmp_path, 1, 2)
    assert (kind, reason) == ("oom", "Rank 1 of 2 failed: Out of memory while training.")


def test_a_killed_rank_is_named_with_its_signal_not_the_ranks_torchrun_stopped(tmp_path):
    _error(tmp_path, 0, "RuntimeError: Connection reset by peer", comm=True)
    (tmp_path / LAUNCHER_LOG).write_text(TORCHRUN_SUMMARY)
    kind, reason, detail = explain_failure(tmp_path, 1, 2)
    assert kind == "rank_died" and reason.startswith("Rank 1 of 2 died: killed by SIGKILL (exit code -9)")
    assert "out-of-memory killer" in reason and "ChildFailedError" in detail


def test_peer_hang_ups_alone_and_a_silent_launcher(tmp_path):
    _error(tmp_path, 1, "RuntimeError: Connection closed by peer", comm=True)
    (tmp_path / LAUNCHER_LOG).write_text("E1125 agent failed\n")
    assert explain_failure(tmp_path, 1, 2)[1] == (
        "Rank 1 of 2 lost contact with the other ranks: RuntimeError: Connection closed by peer"
    )
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / LAUNCHER_LOG).write_text("torchrun: error: unrecognized arguments: --bogus\n\n")
    assert explain_failure(empty, 2, 2) == (
        "error",
        "The distributed launcher (torchrun) exited with code 2: torchrun: error: unrecognized arguments: --bogus",
        "torchrun: error: unrecognized arguments: --bogus\n\n",
    )
