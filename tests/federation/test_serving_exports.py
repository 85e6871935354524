"""Export bundles of a deployment: PEFT folder (vLLM/LoRAX), GGUF LoRA (llama.cpp/Ollama) read back and
rebuilt against PEFT's own ΔW, merged full model equal to the adapter's outputs."""

from __future__ import annotations

import io
import zipfile

import pytest
import torch

from federation.serving import services
from federation.serving.engine.gguf_lora import _permute, read_gguf_deltas

pytestmark = pytest.mark.django_db


def unzip(response, into):
    assert response.status_code == 200, response.content[:500]
    zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content))).extractall(into)


def test_gguf_export_rebuilds_every_delta_of_peft(fed, staff_user, staff_client, tmp_path, tiny_models):
    from peft import PeftModel

    from training.engine.model_files import load_causal_lm

    services.create_deployment("planner", staff_user, adapter=fed.task.pk)
    unzip(staff_client.post("/api/deployments/planner/export?format=gguf"), tmp_path)
    bundle = tmp_path / "planner"
    assert (bundle / "Modelfile").read_text() == "FROM ./base.gguf\nADAPTER ./adapter.gguf\n"
    assert "llama-server -m base.gguf --lora adapter.gguf" in (bundle / "README.md").read_text()
    meta, deltas = read_gguf_deltas(bundle / "adapter.gguf")
    assert meta["general.type"] == "adapter" and meta["adapter.type"] == "lora"
    assert meta["general.architecture"] == "llama" and meta["adapter.lora.alpha"] == fed.task.alpha

    # PEFT's own ΔW for every adapted module (q/k rows in llama.cpp's rotary order, as its converter writes them).
    peft_model = PeftModel.from_pretrained(
        load_causal_lm(tiny_models["tiny-llama"]), str(fed.task.abs_path())
    )
    config = peft_model.base_model.model.config
    names = {"q_proj": "attn_q", "v_proj": "attn_v", "o_proj": "attn_output"}
    checked = 0
    for index, layer in enumerate(peft_model.base_model.model.model.layers):
        for module, short in names.items():
            expected = getattr(layer.self_attn, module).get_delta_weight("default").float()
            if module == "q_proj":
                expected = _permute(expected, config.num_attention_heads, config.num_attention_heads)
            got = deltas[f"blk.{index}.{short}.weight"]
            assert torch.linalg.norm(got - expected) <= 1e-5 * torch.linalg.norm(expected)
            checked += 1
    assert checked == len(deltas) > 0


def test_peft_and_merged_bundles(fed, make_federation, staff_user, staff_client, tmp_path, tiny_models):
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    from training.engine.model_files import load_causal_lm

    federation = make_federation("additive")
    services.create_deployment("amazon-planning", staff_user, federation=federation.pk)
    unzip(staff_client.post("/api/deployments/amazon-planning/export?format=peft"), tmp_path / "peft")
    readme = (tmp_path / "peft" / "amazon-planning" / "README.md").read_text()
    assert "--lora-modules amazon-planning=./adapter" in readme and "composed adapter" in readme
    assert (tmp_path / "peft" / "amazon-planning" / "adapter" / "adapter_model.safetensors").is_file()

    services.create_deployment("retailer-only", staff_user, adapter=fed.retailer.pk)
    unzip(staff_client.post("/api/deployments/retailer-only/export?format=merged"), tmp_path / "merged")
    folder = tmp_path / "merged" / "retailer-only"
    assert "Size warning" in (folder / "README.md").read_text()
    assert not list(folder.rglob("*.bin")) and list(folder.rglob("*.safetensors"))
    merged = AutoModelForCausalLM.from_pretrained(folder / "model")
    peft_model = PeftModel.from_pretrained(
        load_causal_lm(tiny_models["tiny-llama"]), str(fed.retailer.abs_path())
    )
    ids = torch.tensor([[1, 5, 9, 13, 2]])
    with torch.no_grad():
        assert torch.allclose(merged(ids).logits, peft_model(ids).logits, atol=1e-4)

    gated = make_federation("gated", name="gated-one", gate_steps=1)
    gated.status = "ready"
    gated.save()
    services.set_target("retailer-only", "staging", staff_user, federation=gated.pk)
    refused = staff_client.post("/api/deployments/retailer-only/export?format=peft&stage=staging")
    assert refused.status_code == 400 and "only additive federations" in refused.json()["detail"]
