"""Why a training run failed, in words an engineer can act on."""

from __future__ import annotations

import traceback
from dataclasses import dataclass

from training.engine.config import ConfigError
from training.engine.data import DatasetRowError
from training.engine.model_files import BaseModelUnavailable

__all__ = ["BaseModelUnavailable", "DistributedFailure", "Failure", "NanLossError", "classify"]


class NanLossError(FloatingPointError):
    """The training loss became NaN or infinite."""

    def __init__(self, step: int, learning_rate: float):
        self.step = step
        self.learning_rate = learning_rate
        super().__init__(f"loss became NaN/inf at step {step}")


class DistributedFailure(RuntimeError):
    """A distributed run ended badly; `reason` already names the rank and what happened to it."""

    def __init__(self, kind: str, reason: str, detail: str):
        self.kind, self.reason, self.detail = kind, reason, detail
        super().__init__(reason)


@dataclass
class Failure:
    kind: str  # oom | dataset | base_model | nan_loss | config | rank_died | error
    reason: str
    traceback: str


def _is_oom(exc: BaseException) -> bool:
    import torch

    if isinstance(exc, MemoryError | torch.OutOfMemoryError):
        return True
    text = str(exc).lower()
    return (
        "out of memory" in text
        or "cannot allocate memory" in text
        or "defaultcpuallocator: can't allocate" in text
    )


def classify(
    exc: BaseException, *, batch_size: int | None = None, quantization: str | None = None
) -> Failure:
    """Turn an exception from loading or training into a readable reason (the traceback goes to the log)."""
    if isinstance(exc, DistributedFailure):
        return Failure(exc.kind, exc.reason, exc.detail)
    tb = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    if _is_oom(exc):
        hints = [f"a smaller batch size (now {batch_size})" if batch_size else "a smaller batch size"]
        if quantization != "4bit":
            hints.append("4-bit quantization (QLoRA)")
        hints.append("gradient checkpointing, or a shorter max sequence length")
        return Failure("oom", "Out of memory while training. Try " + ", ".join(hints) + ".", tb)
    if isinstance(exc, DatasetRowError):
        return Failure("dataset", f"Dataset problem: {exc}", tb)
    if isinstance(exc, BaseModelUnavailable):
        return Failure("base_model", f"Base model not available offline: {exc}", tb)
    if isinstance(exc, NanLossError):
        return Failure(
            "nan_loss",
            f"Loss became NaN at step {exc.step}: lower the learning rate (now {exc.learning_rate:g}), "
            "keep gradient clipping on, or check the data for broken rows.",
            tb,
        )
    if isinstance(exc, ConfigError):
        return Failure("config", f"Invalid configuration: {exc}", tb)
    text = str(exc)
    if isinstance(exc, KeyError | ValueError) and any(
        k in text for k in ("messages", "prompt", "completion", "chosen", "rejected", "generation")
    ):
        return Failure(
            "dataset", f"Dataset rows do not fit the training type: {type(exc).__name__}: {text}", tb
        )
    return Failure("error", f"{type(exc).__name__}: {text}"[:1000], tb)
