"""SFT batch layout: padding-free (examples concatenated into one row) where it is correct, else length-grouped.

Padding-free batches drop the attention mask and restart `position_ids` at every example; the model must then keep
the examples apart itself. transformers does so for sdpa/eager by building a block-diagonal mask from the position
ids (only without a KV cache, as trl trains), flash-attention kernels from the sequence boundaries. Whether the
loaded model really does is checked, not assumed: two short sequences run alone and packed must give the same
logits. Where they do not, batches are grouped by length instead, which also cuts padding.
"""

from __future__ import annotations

from typing import Any

PADDING_FREE, LENGTH_GROUPED, PADDED = "padding_free", "length_grouped", "padded"
# Columns trl leaves per token after preparing a dataset; all are cut to the same length.
TOKEN_COLUMNS = (
    "input_ids",
    "labels",
    "attention_mask",
    "completion_mask",
    "assistant_masks",
    "position_ids",
)


def packed_examples_stay_apart(model: Any, atol: float = 1e-3) -> bool:
    """True when the model's logits for two sequences packed in one row equal their logits run alone."""
    import torch

    vocab = int(getattr(model.config, "vocab_size", 0) or 0)
    if vocab < 64:
        return False
    device = next(model.parameters()).device
    first = torch.arange(5, 17, device=device)[None] % vocab
    second = torch.arange(40, 49, device=device)[None] % vocab
    packed = torch.cat([first, second], dim=1)
    positions = torch.cat([torch.arange(first.shape[1]), torch.arange(second.shape[1])])[None].to(device)
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            alone = model(input_ids=second, use_cache=False).logits.float()
            together = model(input_ids=packed, position_ids=positions, use_cache=False).logits.float()
    except Exception:  # an attention implementation that refuses position-only packing cannot pack
        return False
    finally:
        model.train(was_training)
    tail = together[:, first.shape[1] :]
    scale = float(alone.abs().max()) or 1.0
    return bool(((tail - alone).abs().max() / scale) <= atol)


def choose_batching(requested: str, model: Any) -> tuple[str, str]:
    """(the layout a job uses, a log line saying which and why)."""
    attention = getattr(model.config, "_attn_implementation", None) or "default"
    if requested == PADDED:
        return PADDED, "batching: padded batches (as requested)"
    if requested == LENGTH_GROUPED:
        return LENGTH_GROUPED, "batching: length-grouped batches (as requested)"
    if packed_examples_stay_apart(model):
        return PADDING_FREE, (
            f"batching: padding-free — examples concatenated without padding; the {attention} attention keeps "
            "them apart (checked on this model)"
        )
    return LENGTH_GROUPED, (
        f"batching: length-grouped batches — the {attention} attention of this model lets packed examples see "
        "each other, so padding-free is not used"
    )


def trainer_args(batching: str, max_seq_length: int) -> dict[str, Any]:
    """SFTConfig arguments of a layout. Padding-free without trl's packing leaves `max_length` to `truncate`."""
    if batching == PADDING_FREE:
        return {"padding_free": True, "packing": False, "max_length": None}
    if batching == LENGTH_GROUPED:
        return {"packing": False, "train_sampling_strategy": "group_by_length", "max_length": max_seq_length}
    return {"packing": False, "max_length": max_seq_length}


def truncate(dataset: Any, max_length: int) -> Any:
    """Cut every token column of a prepared dataset to max_length (trl does this itself except when padding-free)."""
    if dataset is None:
        return None
    columns = [c for c in TOKEN_COLUMNS if c in dataset.column_names]

    def cut(row: dict[str, Any]) -> dict[str, Any]:
        return {c: row[c][:max_length] for c in columns}

    cut_rows = dataset.map(cut)
    if "labels" not in cut_rows.column_names:
        return cut_rows
    # As trl does after its own truncation: a row whose learnable tokens were all cut off teaches nothing.
    return cut_rows.filter(lambda row: any(label != -100 for label in row["labels"]))
