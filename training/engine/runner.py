"""Build the trl trainer for a job (SFT, DPO, QLoRA), run it with checkpoints, and save the adapter."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from training.engine import batching
from training.engine.batching import choose_batching
from training.engine.callback import ProgressCallback
from training.engine.chat_format import as_chat_turns, ensure_generation_markers
from training.engine.checkpoints import latest_checkpoint
from training.engine.config import TrainingConfig
from training.engine.data import load_training_data
from training.engine.loading import Device, detect_device, load_model_and_tokenizer, quantization_note
from training.engine.process import peak_memory_bytes, world_size


@dataclass
class TrainingRun:
    """Everything the engine needs, as plain data: absolute paths, the checked config."""

    training_type: str  # sft | dpo | qlora
    model_folder: Path
    dataset_file: Path
    output_dir: Path  # checkpoints go here
    adapter_staging_dir: Path  # the finished adapter is saved here (then moved into the store by the caller)
    config: TrainingConfig
    resume_from_checkpoint: Path | None = None
    init_adapter: Path | None = None  # continue from this adapter's weights (its own rank and targets)


@dataclass
class TrainingResult:
    outcome: str  # completed | cancelled | pruned
    step: int
    total_steps: int
    device: str
    final_metrics: dict[str, Any] = field(default_factory=dict)
    last_checkpoint: Path | None = None
    data_format: str = ""
    peak_memory_bytes: int | None = None  # of this process (rank 0 in a distributed run)
    pruned_reason: str = ""  # a sweep trial its pruner stopped early: why


def _lora_config(cfg: TrainingConfig):
    from peft import LoraConfig

    modules: Any = cfg.target_modules
    if modules == ["all-linear"]:
        modules = "all-linear"
    return LoraConfig(
        r=cfg.lora_r,
        lora_alpha=cfg.lora_alpha,
        lora_dropout=cfg.lora_dropout,
        target_modules=modules,
        bias="none",
        task_type="CAUSAL_LM",
    )


def _common_args(run: TrainingRun, device: Device, has_eval: bool) -> dict[str, Any]:
    cfg = run.config
    return {
        "output_dir": str(run.output_dir),
        "num_train_epochs": cfg.epochs,
        "max_steps": cfg.max_steps if cfg.max_steps else -1,
        "per_device_train_batch_size": cfg.batch_size,
        "per_device_eval_batch_size": cfg.batch_size,
        "gradient_accumulation_steps": cfg.gradient_accumulation_steps,
        "learning_rate": cfg.learning_rate,
        "lr_scheduler_type": cfg.lr_scheduler,
        "warmup_steps": cfg.warmup_ratio,  # transformers 5: a value < 1 is a ratio of the total steps
        "weight_decay": cfg.weight_decay,
        "max_grad_norm": cfg.max_grad_norm,
        "gradient_checkpointing": cfg.gradient_checkpointing,
        "max_length": cfg.max_seq_length,
        "seed": cfg.seed,
        "data_seed": cfg.seed,
        "logging_strategy": "steps",
        "logging_steps": cfg.logging_steps,
        "eval_strategy": "steps" if has_eval else "no",
        "eval_steps": cfg.eval_steps if has_eval else None,
        "save_strategy": "steps",
        "save_steps": cfg.checkpoint_steps,
        "save_total_limit": 2,
        "use_cpu": not device.is_cuda,
        "bf16": device.bf16,
        "fp16": False,
        "report_to": "none",
        "disable_tqdm": True,
        "dataloader_num_workers": 0,
        "dataset_num_proc": None,
        "trust_remote_code": False,
        **_distributed_args(device),
    }


def _distributed_args(device: Device) -> dict[str, Any]:
    if world_size() <= 1:
        return {}
    # LoRA leaves most parameters frozen: the unused-parameter search would only cost a graph walk per step.
    return {"ddp_backend": "nccl" if device.is_cuda else "gloo", "ddp_find_unused_parameters": False}


def build_trainer(run: TrainingRun, callback: ProgressCallback, device: Device):
    """The trl trainer with every hyperparameter set explicitly (trl's own defaults differ from ours)."""
    from datasets import Dataset

    cfg = run.config
    data = load_training_data(
        run.dataset_file, run.training_type, cfg.validation_split, cfg.seed, max_seq_length=cfg.max_seq_length
    )
    quantization = "4bit" if run.training_type == "qlora" else cfg.quantization
    model, tokenizer = load_model_and_tokenizer(run.model_folder, quantization, device)
    note = quantization_note(model, quantization)
    if note:
        callback.note(note)  # QLoRA's log says NF4 was really applied, not only requested
    peft_config = _lora_config(cfg)
    if run.init_adapter is not None:
        from peft import PeftModel

        # A warm start: the trainer gets the adapter already on the model, trainable, and no new LoRA config.
        model = PeftModel.from_pretrained(model, str(run.init_adapter), is_trainable=True)
        peft_config = None
        callback.note(f"continuing from the adapter in {run.init_adapter.name}")
    train_ds = Dataset.from_list(data.train_rows)
    eval_ds = Dataset.from_list(data.eval_rows) if data.eval_rows else None
    args = _common_args(run, device, eval_ds is not None)
    if quantization != "none" and not cfg.gradient_checkpointing:
        # peft's k-bit preparation would switch checkpointing on; keep the user's choice explicit.
        args["gradient_checkpointing"] = False
    if run.training_type == "dpo":
        from trl import DPOConfig, DPOTrainer

        trainer = DPOTrainer(
            model=model,
            ref_model=None,  # with a peft config the base with adapters disabled is the reference
            args=DPOConfig(**args, beta=cfg.beta),
            train_dataset=train_ds,
            eval_dataset=eval_ds,
            processing_class=tokenizer,
            peft_config=peft_config,
            callbacks=[callback],
        )
    else:
        from trl import SFTConfig, SFTTrainer

        has_template = bool(getattr(tokenizer, "chat_template", None))
        if data.format == "prompt_completion" and has_template:
            # Trained in the framing the console's inference asks in (one user turn, one assistant turn).
            train_ds = Dataset.from_list(as_chat_turns(data.train_rows))
            eval_ds = Dataset.from_list(as_chat_turns(data.eval_rows)) if data.eval_rows else None
        assistant_only = data.format == "messages" and cfg.assistant_only_loss
        if assistant_only and ensure_generation_markers(tokenizer):
            callback.note(
                "chat template: assistant turns marked with {% generation %} for assistant-only loss"
            )
        layout, line = choose_batching(cfg.batching, model)
        callback.note(line)
        args.pop("max_length")
        trainer = SFTTrainer(
            model=model,
            args=SFTConfig(
                **args,
                **batching.trainer_args(layout, cfg.max_seq_length),
                assistant_only_loss=assistant_only,
            ),
            train_dataset=train_ds,
            eval_dataset=eval_ds,
            processing_class=tokenizer,
            peft_config=peft_config,
            callbacks=[callback],
        )
        if layout == batching.PADDING_FREE:
            trainer.train_dataset = batching.truncate(trainer.train_dataset, cfg.max_seq_length)
            trainer.eval_dataset = batching.truncate(trainer.eval_dataset, cfg.max_seq_length)
        trainer.batching = layout
    return trainer, data.format


def run_training(
    run: TrainingRun,
    report: Callable,
    should_stop: Callable[[], bool] = lambda: False,
    *,
    report_interval: float = 1.0,
    on_device: Callable[[Device], None] | None = None,
    on_eval: Callable[[int, float], str] | None = None,
) -> TrainingResult:
    """Train; on success save the adapter (PEFT format) to `run.adapter_staging_dir`. Exceptions propagate."""
    import datasets
    import torch
    from transformers import PrinterCallback

    datasets.disable_progress_bars()
    device = detect_device()
    if on_device:
        on_device(device)
    torch.manual_seed(run.config.seed)
    callback = ProgressCallback(report, should_stop, report_interval=report_interval, on_eval=on_eval)
    trainer, data_format = build_trainer(run, callback, device)
    trainer.remove_callback(PrinterCallback)  # the console's callback reports; no per-step dict on stdout
    started, cpu_started = time.perf_counter(), _cpu_seconds()
    output = trainer.train(
        resume_from_checkpoint=str(run.resume_from_checkpoint) if run.resume_from_checkpoint else None
    )
    train_wall = time.perf_counter() - started
    train_cpu = _cpu_seconds() - cpu_started
    state = trainer.state
    runtime = float(output.metrics.get("train_runtime", train_wall))
    tokens = callback.session_tokens
    metrics: dict[str, Any] = {
        "train_loss": _finite(output.training_loss),
        "train_runtime": round(runtime, 4),
        "num_tokens": tokens,
        "tokens_per_second": round(tokens / runtime, 2) if runtime > 0 and tokens else None,
        # CPU seconds of the whole process (all threads) while training: a load-independent cost measure.
        "train_cpu_seconds": round(train_cpu, 3),
    }
    if getattr(trainer, "batching", None):
        metrics["batching"] = (
            trainer.batching
        )  # which layout this job used (padding_free | length_grouped | padded)
    result = TrainingResult(
        outcome="cancelled" if callback.stopped_by_request else "completed",
        step=state.global_step,
        total_steps=state.max_steps,
        device=device.label,
        data_format=data_format,
    )
    if callback.pruned_reason and not callback.stopped_by_request:
        result.outcome, result.pruned_reason = "pruned", callback.pruned_reason
    if callback.stopped_by_request or callback.pruned_reason:
        result.last_checkpoint = latest_checkpoint(run.output_dir)
        result.final_metrics = metrics
        result.peak_memory_bytes = peak_memory_bytes()
        return result
    if trainer.eval_dataset is not None:
        metrics.update(_final_eval(trainer, run.training_type))
    callback.flush(state)
    if trainer.is_world_process_zero():  # every rank holds the same weights: one writes them
        trainer.model.save_pretrained(run.adapter_staging_dir, safe_serialization=True)
    result.final_metrics = metrics
    result.last_checkpoint = latest_checkpoint(run.output_dir)
    result.peak_memory_bytes = peak_memory_bytes()
    return result


def _final_eval(trainer, training_type: str) -> dict[str, Any]:
    # The trainer already evaluated at the last step when eval_steps divides it: reuse that, don't run it twice.
    last = next((e for e in reversed(trainer.state.log_history) if "eval_loss" in e), None)
    ev = last if last and last.get("step") == trainer.state.global_step else trainer.evaluate()
    out: dict[str, Any] = {"eval_loss": _finite(ev.get("eval_loss"))}
    if training_type == "dpo":
        out["perplexity"] = None
        out["token_accuracy"] = None
        out["reward_accuracy"] = _finite(ev.get("eval_rewards/accuracies"))
        out["reward_margin"] = _finite(ev.get("eval_rewards/margins"))
    else:
        loss = out["eval_loss"]
        out["perplexity"] = round(math.exp(loss), 4) if loss is not None and loss < 50 else None
        out["token_accuracy"] = _finite(ev.get("eval_mean_token_accuracy"))
    return out


def _cpu_seconds() -> float:
    import resource

    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _finite(value) -> float | None:
    try:
        value = float(value)
    except (TypeError, ValueError):
        return None
    return round(value, 6) if math.isfinite(value) else None
