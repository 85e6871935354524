"""What a silo does in a round, with the console's own training engine (same LoRA config, same chat templates).

Runs inside Flower's ClientApp process on the silo's host: it reads the silo-local dataset, and gives back only
the LoRA tensors, the number of training examples and losses.
"""

from __future__ import annotations

import math
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from training.engine.config import TrainingConfig

# torch/transformers/trl are imported inside the functions, after the dataset check: each ClientApp message is a
# fresh process, and a silo whose dataset is missing answers with the reason in a second instead of ~10 s.


class SiloDataError(ValueError):
    """The silo's dataset is missing or unusable (the reason travels back to the console, never the data)."""


@dataclass
class RoundResult:
    arrays: dict[str, np.ndarray]
    num_examples: int
    train_loss: float


def check_dataset(path: str) -> Path:
    dataset = Path(path)
    if not path:
        raise SiloDataError("this SuperNode's node config names no dataset-path")
    if not dataset.is_file():
        raise SiloDataError(f"dataset not found on this silo: {dataset.name}")
    return dataset


def _trainer(model_folder: Path, dataset: Path, config: TrainingConfig, training_type: str, workdir: Path):
    from training.engine.callback import ProgressCallback
    from training.engine.data import DatasetRowError
    from training.engine.loading import detect_device
    from training.engine.runner import TrainingRun, build_trainer

    run = TrainingRun(
        training_type=training_type,
        model_folder=model_folder,
        dataset_file=dataset,
        output_dir=workdir / "out",
        adapter_staging_dir=workdir / "adapter",
        config=config,
    )
    try:
        trainer, _ = build_trainer(run, ProgressCallback(lambda _p: None), detect_device())
    except DatasetRowError as exc:
        raise SiloDataError(f"dataset invalid on this silo: {exc}") from exc
    from transformers import PrinterCallback

    trainer.remove_callback(PrinterCallback)  # no per-step dict in the SuperNode's log
    return trainer


def _load_global(trainer, arrays: dict[str, np.ndarray]) -> None:
    import torch
    from peft import get_peft_model_state_dict, set_peft_model_state_dict

    own = get_peft_model_state_dict(trainer.model)
    if set(own) != set(arrays):
        raise SiloDataError("the global adapter's tensors do not match this silo's LoRA layout")
    for key, value in arrays.items():
        if tuple(own[key].shape) != tuple(value.shape):
            raise SiloDataError(f"adapter shape mismatch at {key}: {value.shape} vs {tuple(own[key].shape)}")
    device = next(trainer.model.parameters()).device
    set_peft_model_state_dict(
        trainer.model, {k: torch.from_numpy(np.array(v)).to(device) for k, v in arrays.items()}
    )


def _proximal(trainer, mu: float) -> None:
    """FedProx: add μ/2·‖w − w_global‖² over the trainable (LoRA) weights to every step's loss."""
    anchors = {n: p.detach().clone() for n, p in trainer.model.named_parameters() if p.requires_grad}
    original = trainer.compute_loss

    def compute_loss(model, inputs, return_outputs=False, num_items_in_batch=None):
        out = original(model, inputs, return_outputs=return_outputs, num_items_in_batch=num_items_in_batch)
        loss = out[0] if return_outputs else out
        prox = sum(((p - anchors[n]) ** 2).sum() for n, p in model.named_parameters() if n in anchors)
        loss = loss + (mu / 2.0) * prox
        return (loss, out[1]) if return_outputs else loss

    trainer.compute_loss = compute_loss


def train_round(
    model_folder: Path,
    dataset_path: str,
    config: TrainingConfig,
    training_type: str,
    global_arrays: dict[str, np.ndarray],
    local_steps: int,
    proximal_mu: float = 0.0,
) -> RoundResult:
    """Start from the global adapter, take `local_steps` optimizer steps on this silo's data, return the adapter."""
    import torch
    from peft import get_peft_model_state_dict

    dataset = check_dataset(dataset_path)
    config.max_steps = local_steps
    config.eval_steps = 10**9  # the round's evaluation is a separate message; none inside local training
    config.checkpoint_steps = 10**9
    torch.manual_seed(config.seed)
    with tempfile.TemporaryDirectory(prefix="rmn-silo-") as tmp:
        trainer = _trainer(model_folder, dataset, config, training_type, Path(tmp))
        _load_global(trainer, global_arrays)
        if proximal_mu > 0:
            _proximal(trainer, proximal_mu)
        output = trainer.train()
        state = get_peft_model_state_dict(trainer.model)
        arrays = {k: v.detach().to("cpu", torch.float32).numpy() for k, v in state.items()}
        return RoundResult(arrays, len(trainer.train_dataset), float(output.training_loss))


def evaluate_round(
    model_folder: Path,
    dataset_path: str,
    config: TrainingConfig,
    training_type: str,
    global_arrays: dict[str, np.ndarray],
) -> tuple[float, int]:
    """The global adapter's loss on this silo's held-out rows (the same seeded split the training used)."""
    dataset = check_dataset(dataset_path)
    with tempfile.TemporaryDirectory(prefix="rmn-silo-") as tmp:
        trainer = _trainer(model_folder, dataset, config, training_type, Path(tmp))
        _load_global(trainer, global_arrays)
        if trainer.eval_dataset is None:
            raise SiloDataError("too few rows on this silo to hold out evaluation rows")
        loss = float(trainer.evaluate()["eval_loss"])
        if not math.isfinite(loss):
            raise SiloDataError("evaluation loss is not finite")
        return loss, len(trainer.eval_dataset)
