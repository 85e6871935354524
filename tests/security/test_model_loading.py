"""Model files are safetensors only, remote code never runs, and no uploaded archive is ever unpacked."""

from __future__ import annotations

import ast
import io
import json
import pickle
import shutil
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
APP_DIRS = ("rmnconsole", "datasets_app", "training", "federation", "monitoring")


class _Trap:
    """Unpickling this creates a marker file: proof that a loader executed a pickle."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


def _pickle_bomb(path: Path, marker: Path) -> None:
    path.write_bytes(pickle.dumps({"model.embed_tokens.weight": _Trap(marker)}))


@pytest.fixture
def pickle_only_model(tiny_models, tmp_path) -> tuple[Path, Path]:
    """A model folder with config, tokenizer and chat template, but weights only as a pickled pytorch_model.bin."""
    folder = tmp_path / "pickled-model"
    shutil.copytree(tiny_models["tiny-llama"], folder)
    for weights in folder.glob("*.safetensors"):
        weights.unlink()
    marker = tmp_path / "PICKLE-EXECUTED"
    _pickle_bomb(folder / "pytorch_model.bin", marker)
    return folder, marker


def test_every_base_model_loader_refuses_pickled_weights(pickle_only_model, tmp_path):
    from federation.engine.loading import load_base
    from training.engine.loading import Device, load_model_and_tokenizer, resolve_model_folder
    from training.engine.model_files import BaseModelUnavailable, check_availability, load_causal_lm

    folder, marker = pickle_only_model
    with pytest.raises(BaseModelUnavailable, match="safetensors"):
        load_causal_lm(folder)
    with pytest.raises(BaseModelUnavailable, match="safetensors"):
        load_model_and_tokenizer(folder, "none", Device("cpu", "cpu", False, False))
    with pytest.raises(BaseModelUnavailable, match="safetensors"):
        load_base(folder, device="cpu")
    availability = check_availability(str(folder), tmp_path)
    assert not availability.available and "safetensors" in availability.note
    with pytest.raises(BaseModelUnavailable):
        resolve_model_folder(str(folder), "", tmp_path)
    assert not marker.exists(), "a loader unpickled pytorch_model.bin"


@pytest.mark.django_db
def test_federation_refuses_a_base_model_without_safetensors(pickle_only_model, data_root):
    from federation.services import base_model_path
    from rmnconsole.core.errors import ServiceError
    from training.models import FoundationModel

    folder, marker = pickle_only_model
    local = data_root / "models" / "pickled"
    shutil.copytree(folder, local)
    base = FoundationModel.objects.create(
        name="pickled", source="models/pickled", family="llama", local_path=""
    )
    with pytest.raises(ServiceError, match="safetensors"):
        base_model_path(base)
    assert not marker.exists()


def test_remote_code_is_refused_by_the_training_loader(tiny_models, tmp_path):
    from training.engine.loading import Device, load_model_and_tokenizer
    from training.engine.model_files import BaseModelUnavailable

    folder = tmp_path / "remote-code"
    shutil.copytree(tiny_models["tiny-llama"], folder)
    config = json.loads((folder / "config.json").read_text())
    config["auto_map"] = {"AutoModelForCausalLM": "evil_modeling.EvilForCausalLM"}
    (folder / "config.json").write_text(json.dumps(config))
    marker = tmp_path / "REMOTE-CODE-RAN"
    (folder / "evil_modeling.py").write_text(f"open({str(marker)!r}, 'w')\n")
    with pytest.raises(BaseModelUnavailable, match="trust_remote_code is off"):
        load_model_and_tokenizer(folder, "none", Device("cpu", "cpu", False, False))
    assert not marker.exists()


def test_federation_refuses_pickled_adapters(tiny_models, tmp_path, world_lora):
    from federation.engine.loading import load_base, load_members
    from federation.engine.types import MemberSpec

    adapter = tmp_path / "pickled-adapter"
    shutil.copytree(world_lora, adapter)
    (adapter / "adapter_model.safetensors").unlink()
    marker = tmp_path / "ADAPTER-PICKLE-EXECUTED"
    _pickle_bomb(adapter / "adapter_model.bin", marker)
    base, _tokenizer = load_base(tiny_models["tiny-llama"], device="cpu")
    member = MemberSpec(label="pickled v1", path=adapter, weight=1.0, role="retailer", prompt_template="")
    with pytest.raises(ValueError, match="safetensors"):
        load_members(base, (member,))
    assert not marker.exists()


@pytest.mark.django_db
def test_composing_with_a_pickled_adapter_is_refused_up_front(world):
    from federation.services import MemberInput, create_federation
    from rmnconsole.core.errors import ServiceError

    adapter = world.adapter
    (adapter.abs_path() / "adapter_model.safetensors").rename(adapter.abs_path() / "adapter_model.bin")
    with pytest.raises(ServiceError, match="safetensors"):
        create_federation(name="f", base_model=world.base, members=[MemberInput(adapter)], user=world.user)


# --- the code itself: every loader call says so explicitly --------------------------------------------------------
def _app_calls():
    for app in APP_DIRS:
        for path in (REPO / app).rglob("*.py"):
            if "migrations" in path.parts:
                continue
            tree = ast.parse(path.read_text(), filename=str(path))
            for node in ast.walk(tree):
                if isinstance(node, ast.Call):
                    func = node.func
                    name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
                    yield path.relative_to(REPO), node, name


def _kw(node: ast.Call, name: str):
    for kw in node.keywords:
        if kw.arg == name:
            return kw.value
    return None


def test_trust_remote_code_is_never_on_and_hf_loaders_say_so():
    auto_loaders = []
    for where, node, name in _app_calls():
        value = _kw(node, "trust_remote_code")
        if value is not None:
            assert isinstance(value, ast.Constant) and value.value is False, f"{where}:{node.lineno}"
        if name == "from_pretrained" and isinstance(node.func, ast.Attribute):
            owner = ast.unparse(node.func.value)
            if owner.startswith("Auto"):
                auto_loaders.append(f"{where}:{node.lineno}")
                if any(kw.arg is None for kw in node.keywords):  # **kwargs: the dict literal must say it
                    source = (REPO / where).read_text()
                    assert '"trust_remote_code": False' in source and '"local_files_only": True' in source, (
                        where
                    )
                    continue
                assert value is not None, (
                    f"{where}:{node.lineno} {owner}.from_pretrained without trust_remote_code=False"
                )
                assert isinstance(_kw(node, "local_files_only"), ast.Constant), (
                    f"{where}:{node.lineno} may download"
                )
    assert auto_loaders, "the scan found no loader at all"


def test_no_pickle_loading_and_no_archive_unpacking_in_app_code():
    """torch.load / pickle.load would run code from a file; extractall would write where an archive says."""
    for where, node, name in _app_calls():
        call = ast.unparse(node.func)
        assert call not in ("torch.load", "pickle.load", "pickle.loads", "joblib.load"), (
            f"{where}:{node.lineno} {call}"
        )
        assert name not in ("extractall", "unpack_archive", "extract"), (
            f"{where}:{node.lineno} unpacks {call}"
        )


def _zip_slip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("../../../../zip-slip-evil.txt", "owned")
        archive.writestr("/tmp/zip-slip-absolute.txt", "owned")
        archive.writestr("ok.jsonl", '{"messages": [{"role": "user", "content": "hi"}]}\n')
    return buffer.getvalue()


@pytest.mark.django_db
def test_zip_slip_archives_are_refused_everywhere_files_come_in(client, user, api_headers, data_root):
    from django.core.files.uploadedfile import SimpleUploadedFile

    from tests.security.world import diff, snapshot

    archive = _zip_slip()
    client.force_login(user)
    before = snapshot(data_root)
    attempts = [
        client.post("/api/datasets", {"file": SimpleUploadedFile("data.zip", archive)}, **api_headers),
        client.post("/api/datasets", {"file": SimpleUploadedFile("data.jsonl", archive)}, **api_headers),
        client.post("/datasets/library/upload/", {"file": SimpleUploadedFile("data.zip", archive)}),
        client.post("/federation/import/", {"config_file": SimpleUploadedFile("federation.zip", archive)}),
        client.generic(
            "POST", "/api/federations/import", archive, content_type="application/zip", **api_headers
        ),
    ]
    for response in attempts:
        assert response.status_code in (302, 400, 413, 415, 422), response.status_code
    assert diff(before, snapshot(data_root)) == []
    for root in (data_root, data_root.parent, data_root.parent.parent, Path("/tmp")):
        assert not list(root.glob("zip-slip-*")), root
