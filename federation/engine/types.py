"""Plain dataclasses the engine takes and returns (no ORM)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

ADDITIVE = "additive"
GATED = "gated"
SEQUENTIAL = "sequential"

EXACT_COMBINATIONS = ("cat",)
APPROXIMATE_COMBINATIONS = (
    "linear",
    "svd",
    "ties",
    "ties_svd",
    "dare_linear",
    "dare_ties",
    "dare_linear_svd",
)
COMBINATIONS = EXACT_COMBINATIONS + APPROXIMATE_COMBINATIONS
# peft refuses these unless every member has the same rank.
SAME_RANK_COMBINATIONS = ("linear", "ties", "dare_linear", "dare_ties")
NEEDS_DENSITY = ("ties", "ties_svd", "dare_linear", "dare_ties", "dare_linear_svd")

DEFAULT_STAGE_TEMPLATE = "{input}"
DEFAULT_NEXT_STAGE_TEMPLATE = "{input}\n\nPrevious stage output:\n{previous}"


@dataclass(frozen=True)
class MemberSpec:
    """One adapter of a federation, in order."""

    label: str  # "amazon_schema v2": shown to users
    path: Path  # absolute folder with adapter_config.json + adapter_model.safetensors
    weight: float = 1.0
    role: str = "task"
    prompt_template: str = ""  # sequential stages only; "" = default template


@dataclass(frozen=True)
class CompositionSpec:
    """Everything needed to build a composed model."""

    base_path: Path
    method: str
    members: tuple[MemberSpec, ...]
    combination: str = "cat"
    merged: bool = False
    density: float = 0.5
    svd_rank: int | None = None
    gate_path: Path | None = None  # safetensors with the X-LoRA classifier state_dict
    gate_config: dict = field(default_factory=dict)


@dataclass(frozen=True)
class GenerationParams:
    max_new_tokens: int = 64
    temperature: float = 0.0  # 0 = greedy
    seed: int = 0
    top_p: float = 1.0
    min_new_tokens: int = 0  # benchmarks force a fixed length; test prompts stop at end-of-turn


@dataclass
class GenerationResult:
    text: str
    prompt_tokens: int
    generated_tokens: int
    latency_ms: float
    ttft_ms: float | None
    tokens_per_second: float | None


@dataclass
class RunResult:
    """A test prompt's outcome, whatever the method."""

    response: str
    prompt_tokens: int
    generated_tokens: int
    latency_ms: float
    ttft_ms: float | None
    tokens_per_second: float | None
    adapters_used: list[dict] = field(default_factory=list)
    stages: list[dict] = field(default_factory=list)


@dataclass
class LayerError:
    module: str
    relative_error: float


@dataclass
class FidelityReport:
    """‖ΔW_combined − Σ wᵢΔWᵢ‖ / ‖Σ wᵢΔWᵢ‖ per adapted layer."""

    combination: str
    layers: list[LayerError]

    @property
    def mean(self) -> float:
        return sum(e.relative_error for e in self.layers) / len(self.layers) if self.layers else 0.0

    @property
    def max(self) -> float:
        return max((e.relative_error for e in self.layers), default=0.0)

    def as_dict(self) -> dict:
        return {
            "combination": self.combination,
            "mean": self.mean,
            "max": self.max,
            "layers": [{"module": e.module, "relative_error": e.relative_error} for e in self.layers],
        }
