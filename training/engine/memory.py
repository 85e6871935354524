"""GPU memory estimate for a LoRA job, before it is queued: weights, adapter + optimizer, activations, logits.

Estimates follow the usual accounting (Korthikanti et al. 2022 for activations); they are checked against the
measured peak of every finished job, which the job page shows next to the estimate.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

GIB = 1024**3
DTYPE_BYTES = {"float32": 4, "bfloat16": 2, "float16": 2}
# Bytes per base weight after quantization (NF4 with double quantization ≈ 4.13 bits; int8 with scales ≈ 8.1 bits).
QUANT_BYTES = {"4bit": 0.516, "8bit": 1.013}
CUDA_CONTEXT_BYTES = int(0.75 * GIB)


@dataclass(frozen=True)
class ModelShape:
    hidden_size: int
    intermediate_size: int
    num_layers: int
    num_heads: int
    num_kv_heads: int
    vocab_size: int
    parameter_count: int

    @classmethod
    def from_config(cls, config: dict, parameter_count: int = 0) -> ModelShape:
        hidden = int(config["hidden_size"])
        layers = int(config["num_hidden_layers"])
        inter = int(config.get("intermediate_size", 4 * hidden))
        vocab = int(config["vocab_size"])
        heads = int(config["num_attention_heads"])
        shape = cls(
            hidden,
            inter,
            layers,
            heads,
            int(config.get("num_key_value_heads", heads)),
            vocab,
            parameter_count,
        )
        return (
            shape
            if parameter_count
            else cls(**{**asdict(shape), "parameter_count": shape.approx_parameters()})
        )

    @property
    def kv_dim(self) -> int:
        return self.hidden_size // self.num_heads * self.num_kv_heads

    def module_dims(self) -> dict[str, tuple[int, int]]:
        h, i, kv = self.hidden_size, self.intermediate_size, self.kv_dim
        return {
            "q_proj": (h, h),
            "k_proj": (h, kv),
            "v_proj": (h, kv),
            "o_proj": (h, h),
            "gate_proj": (h, i),
            "up_proj": (h, i),
            "down_proj": (i, h),
        }

    def approx_parameters(self) -> int:
        per_layer = sum(a * b for a, b in self.module_dims().values()) + 2 * self.hidden_size
        return self.num_layers * per_layer + self.vocab_size * self.hidden_size


@dataclass(frozen=True)
class MemoryEstimate:
    weights: int
    adapter_and_optimizer: int
    activations: int
    logits: int
    overhead: int
    lora_parameters: int

    @property
    def total(self) -> int:
        return self.weights + self.adapter_and_optimizer + self.activations + self.logits + self.overhead

    @property
    def total_gib(self) -> float:
        return self.total / GIB

    def as_dict(self) -> dict[str, float]:
        parts = {k: v for k, v in asdict(self).items() if k != "lora_parameters"}
        return {
            **{k: round(v / GIB, 3) for k, v in parts.items()},
            "total": round(self.total_gib, 3),
            "lora_parameters": self.lora_parameters,
        }


def estimate_training_memory(
    shape: ModelShape,
    *,
    dtype: str = "bfloat16",
    quantization: str = "none",
    lora_r: int = 16,
    target_modules: list[str] | tuple[str, ...] = ("q_proj", "v_proj"),
    batch_size: int = 4,
    max_seq_length: int = 1024,
    gradient_checkpointing: bool = False,
    dpo: bool = False,
    on_gpu: bool = True,
) -> MemoryEstimate:
    """Peak memory of one training step on one device, in bytes, broken down by what holds it."""
    weight_bytes = QUANT_BYTES.get(quantization, DTYPE_BYTES.get(dtype, 2))
    weights = int(shape.parameter_count * weight_bytes)

    dims = shape.module_dims()
    lora_params = shape.num_layers * sum(
        lora_r * (dims[m][0] + dims[m][1]) for m in target_modules if m in dims
    )
    # fp32 adapter weights + fp32 grads + two AdamW moments = 16 bytes per trainable parameter.
    adapter = lora_params * 16

    act_bytes = DTYPE_BYTES.get(dtype, 2)
    tokens = batch_size * max_seq_length * (2 if dpo else 1)  # DPO runs chosen and rejected
    s, h, a = max_seq_length, shape.hidden_size, shape.num_heads
    if gradient_checkpointing:
        # Only each layer's input is kept, plus one layer recomputed at a time.
        activations = (
            tokens * h * act_bytes * shape.num_layers + tokens * h * (34 + 5 * a * s / h) * act_bytes / 2
        )
    else:
        activations = shape.num_layers * tokens * h * (34 + 5 * a * s / h) * act_bytes / 2
    # fp32 logits and their gradient: with a 128k vocabulary this alone can be several GiB.
    logits = tokens * shape.vocab_size * 4 * 2
    overhead = CUDA_CONTEXT_BYTES if on_gpu else 0
    return MemoryEstimate(weights, adapter, int(activations), logits, overhead, lora_params)


def fits(estimate: MemoryEstimate, device_bytes: int, headroom: float = 0.9) -> bool:
    """True when the estimate fits in the device's memory with some headroom for fragmentation."""
    return estimate.total <= device_bytes * headroom
