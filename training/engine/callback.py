"""A TrainerCallback that reports progress through plain callables and stops when asked (no ORM here)."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from transformers import TrainerCallback

from rmnconsole.core.numbers import finite_or_none
from training.engine.errors import NanLossError


@dataclass
class MetricPoint:
    step: int
    epoch: float | None = None
    loss: float | None = None
    eval_loss: float | None = None
    learning_rate: float | None = None
    grad_norm: float | None = None
    tokens_per_second: float | None = None


@dataclass
class Progress:
    """What the callback hands to `report`: the latest position plus metric points since the last report."""

    step: int
    total_steps: int
    epoch: float
    tokens_per_second: float | None
    eta_seconds: float | None
    num_tokens: int
    metrics: list[MetricPoint] = field(default_factory=list)
    log_lines: list[str] = field(default_factory=list)
    final: bool = False


class ProgressCallback(TrainerCallback):
    """Checks `should_stop()` every step; calls `report(Progress)` at most every `report_interval` seconds.

    Reports are throttled so the database is written a few times a second at most, whatever the step rate.
    """

    def __init__(
        self,
        report: Callable[[Progress], None],
        should_stop: Callable[[], bool] = lambda: False,
        *,
        report_interval: float = 1.0,
        on_eval: Callable[[int, float], str] | None = None,
    ):
        self.report = report
        self.should_stop = should_stop
        self.report_interval = report_interval
        # A sweep trial's pruner: given (step, eval loss) it answers why to stop early ("" = go on).
        self.on_eval = on_eval
        self.stopped_by_request = False
        self.pruned_reason = ""
        self._pending: dict[int, MetricPoint] = {}
        self._lines: list[str] = []
        self._last_report = 0.0
        self._t0: float | None = None
        self._tokens = 0  # trl's own running count of non-padding tokens in this session (it logs num_tokens)
        self._step0 = 0
        self._win_t = 0.0
        self._win_tokens = 0
        self._tps: float | None = None

    def note(self, line: str) -> None:
        """A line for the job's log, sent with the next progress report."""
        self._lines.append(line)

    # -- trainer events --------------------------------------------------------------
    def on_train_begin(self, args, state, control, **kwargs):
        now = time.perf_counter()
        self._t0 = self._win_t = now
        self._win_tokens = self._tokens
        self._step0 = state.global_step
        self._lines.append(
            f"training steps {state.global_step}→{state.max_steps}"
            + (" (resumed from a checkpoint)" if state.global_step else "")
        )
        self._emit(state, force=True)

    def on_step_end(self, args, state, control, **kwargs):
        if self.should_stop():
            self.stopped_by_request = True
            control.should_training_stop = True
            # Save a checkpoint at this step so that a resume continues from exactly here.
            control.should_save = True
            control.should_evaluate = False
            self._lines.append(f"cancel requested: stopping after step {state.global_step}")
        now = time.perf_counter()
        first_step = (
            state.global_step == self._step0 + 1
        )  # show the first step at once: the job is really training
        if first_step or now - self._last_report >= self.report_interval:
            self._measure(state, now)
            self._emit(state, force=first_step)

    def on_log(self, args, state, control, logs=None, **kwargs):
        logs = logs or {}
        if "num_tokens" in logs:
            self._tokens = int(logs["num_tokens"])
        point = self._pending.setdefault(state.global_step, MetricPoint(step=state.global_step))
        point.epoch = state.epoch
        if "loss" in logs:
            loss = float(logs["loss"])
            if not math.isfinite(loss):
                raise NanLossError(state.global_step, float(args.learning_rate))
            point.loss = loss
            point.learning_rate = finite_or_none(logs.get("learning_rate"))
            point.grad_norm = finite_or_none(logs.get("grad_norm"))
            point.tokens_per_second = self._tps
        if "eval_loss" in logs:
            point.eval_loss = finite_or_none(logs["eval_loss"])
            self._lines.append(f"step {state.global_step}: eval loss {point.eval_loss:.4f}")

    def on_evaluate(self, args, state, control, metrics=None, **kwargs):
        value = finite_or_none((metrics or {}).get("eval_loss"))
        if self.on_eval is None or value is None or self.pruned_reason:
            return
        reason = self.on_eval(state.global_step, value)
        if reason:
            # A cooperative stop like a cancel: the checkpoint at this step is saved, then training returns.
            self.pruned_reason = reason
            control.should_training_stop = True
            control.should_save = True
            self._lines.append(f"pruned at step {state.global_step}: {reason}")

    def on_save(self, args, state, control, **kwargs):
        self._lines.append(f"checkpoint saved at step {state.global_step}")

    def on_train_end(self, args, state, control, **kwargs):
        self._measure(state, time.perf_counter())
        self._emit(state, force=True, final=True)

    @property
    def session_tokens(self) -> int:
        """Non-padding tokens trained on in this run (a resumed run counts from its checkpoint on)."""
        return self._tokens

    def flush(self, state) -> None:
        """Report what is still pending (the final evaluation's point) once training and eval are over."""
        self._emit(state, force=True, final=True)

    # -- helpers ---------------------------------------------------------------------
    def _measure(self, state, now: float) -> None:
        tokens = self._tokens
        if now > self._win_t and tokens > self._win_tokens:
            self._tps = (tokens - self._win_tokens) / (now - self._win_t)
        self._win_t, self._win_tokens = now, tokens

    def _emit(self, state, *, force: bool = False, final: bool = False) -> None:
        now = time.perf_counter()
        if not force and now - self._last_report < self.report_interval:
            return
        self._last_report = now
        steps_done = state.global_step - self._step0
        eta = None
        if steps_done > 0 and self._t0 is not None and state.max_steps:
            eta = (now - self._t0) / steps_done * max(0, state.max_steps - state.global_step)
        # Points for the current step stay pending until its eval (logged after on_step_end) is in.
        ready = [s for s in self._pending if final or s < state.global_step]
        metrics = [self._pending.pop(s) for s in sorted(ready)]
        lines, self._lines = self._lines, []
        self.report(
            Progress(
                step=state.global_step,
                total_steps=state.max_steps,
                epoch=float(state.epoch or 0.0),
                tokens_per_second=self._tps,
                eta_seconds=eta,
                num_tokens=self._tokens,
                metrics=metrics,
                log_lines=lines,
                final=final,
            )
        )
