"""QLoRA's log confirms NF4 from the loaded layers themselves, and says so when the request was not honoured."""

from __future__ import annotations

from types import SimpleNamespace

import torch

from training.engine.loading import quantization_note


class _Fake4bit(torch.nn.Module):
    def __init__(self, kind: str):
        super().__init__()
        self.weight = SimpleNamespace(quant_type=kind)


def test_nf4_layers_are_counted():
    model = torch.nn.Sequential(_Fake4bit("nf4"), _Fake4bit("nf4"), torch.nn.Linear(2, 2))
    assert quantization_note(model, "4bit") == (
        "4-bit NF4 quantization applied (bitsandbytes): 2 linear layers hold NF4 weights"
    )


def test_a_4bit_request_without_nf4_layers_is_reported():
    note = quantization_note(torch.nn.Sequential(torch.nn.Linear(2, 2)), "4bit")
    assert note.startswith("4-bit quantization requested but no NF4 layer was found")
    assert quantization_note(torch.nn.Linear(2, 2), "none") is None
