"""Portable federations: the config as JSON (export / import) and the composed adapter as one PEFT folder (zip)."""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
import shutil
from pathlib import Path

from django.conf import settings
from django.utils import timezone

from federation import services
from federation.models import Federation, Method
from rmnconsole.core import audit
from rmnconsole.core.errors import ServiceError
from rmnconsole.core.paths import EXPORTS, UnsafeFile, data_dir, iter_tree_inside, open_inside

FORMAT = "rmn-federation"
FORMAT_VERSION = 1


def export_config(federation: Federation) -> dict:
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "name": federation.name,
        "base_model": federation.base_model.name,
        "method": federation.method,
        "options": federation.options,
        "version": federation.version,
        "members": [
            {
                "adapter": m.adapter.name,
                "version": m.adapter.version,
                "sha256": m.adapter.sha256,
                "weight": m.weight,
                "role": m.role,
                "prompt_template": m.prompt_template,
            }
            for m in federation.ordered_members()
        ],
        "exported_at": timezone.now().isoformat(),
        **_gate_section(federation),
    }


def _gate_section(federation: Federation) -> dict:
    """A gated federation's trained gate travels with its config (base64 safetensors): import needs no retraining."""
    if federation.method != Method.GATED or not federation.gate_path:
        return {}
    try:
        with open_inside(federation.gate_path) as handle:
            weights = handle.read()
    except (OSError, UnsafeFile):
        return {}
    return {
        "gate": {
            "sha256": hashlib.sha256(weights).hexdigest(),
            "safetensors_base64": base64.b64encode(weights).decode("ascii"),
        }
    }


def _gate_weights(data: dict) -> bytes | None:
    gate = data.get("gate")
    if gate is None:
        return None
    if not isinstance(gate, dict) or not isinstance(gate.get("safetensors_base64"), str):
        raise ServiceError('The config\'s "gate" must be an object with "safetensors_base64".', field="gate")
    try:
        weights = base64.b64decode(gate["safetensors_base64"], validate=True)
    except (binascii.Error, ValueError):
        raise ServiceError("The config's gate is not valid base64.", field="gate") from None
    expected = gate.get("sha256")
    if expected is not None and hashlib.sha256(weights).hexdigest() != expected:
        raise ServiceError(
            "The config's gate does not match its sha256 (the file was altered).", field="gate"
        )
    return weights


class ConfigTooLarge(ServiceError):
    status = 413


def max_config_bytes() -> int:
    return settings.RMN_MAX_FEDERATION_CONFIG_MB * 1024 * 1024


def parse_config(raw: bytes | str) -> dict:
    """A config file's bytes → its JSON, refused when over RMN_MAX_FEDERATION_CONFIG_MB or not JSON."""
    if isinstance(raw, str):
        raw = raw.encode()
    if len(raw) > max_config_bytes():
        raise ConfigTooLarge(
            f"The config is larger than {settings.RMN_MAX_FEDERATION_CONFIG_MB} MB; "
            "a config is a few KB (a gated one carries its trained gate).",
            field="config",
        )
    try:
        data = json.loads(raw or b"null")
    except ValueError as exc:
        raise ServiceError(f"The config is not valid JSON: {exc}", field="config") from None
    # An uploaded file is not a request body the NUL guard sees, and PostgreSQL refuses NUL in text.
    if _holds_nul(data):
        raise ServiceError("The config contains a NUL character (\\u0000); remove it.", field="config")
    return data


def _holds_nul(value) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_holds_nul(k) or _holds_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_holds_nul(v) for v in value)
    return False


def import_config_file(raw: bytes | str, *, user=None, name: str | None = None) -> Federation:
    """Import a federation from a config file's contents (the page's upload, the API body, the CLI's file)."""
    return import_config(parse_config(raw), user=user, name=name)


def import_config(data: dict, *, user=None, name: str | None = None) -> Federation:
    """Create a federation from an exported config; every adapter must exist here with the same weights (sha256)."""
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise ServiceError(f'Not a federation config: expected "format": "{FORMAT}".')
    if data.get("format_version") != FORMAT_VERSION:
        raise ServiceError(
            f"Unsupported format_version {data.get('format_version')!r} (this console reads {FORMAT_VERSION})."
        )
    members_data = data.get("members")
    if not isinstance(members_data, list) or not all(isinstance(m, dict) for m in members_data):
        raise ServiceError('The config\'s "members" must be a list of objects.')
    members = []
    for item in members_data:
        version = item.get("version")
        if version is not None and (isinstance(version, bool) or not isinstance(version, int)):
            raise ServiceError('A member\'s "version" must be a whole number.')
        adapter = services.resolve_adapter(str(item.get("adapter", "")), version)
        expected = item.get("sha256")
        if expected and adapter.sha256 and expected != adapter.sha256:
            raise ServiceError(
                f"Adapter {adapter.label} on this host has different weights than the exported one (sha256 differs)."
            )
        members.append(
            services.MemberInput(
                adapter=adapter,
                weight=item.get("weight", 1.0),
                role=item.get("role"),
                prompt_template=str(item.get("prompt_template") or ""),
            )
        )
    options = data.get("options") or {}
    if not isinstance(options, dict):
        raise ServiceError('The config\'s "options" must be an object.')
    federation = services.create_federation(
        name=(name or str(data.get("name") or "")).strip(),
        base_model=str(data.get("base_model") or ""),
        members=members,
        method=str(data.get("method") or ""),
        options=options,
        user=user,
        gate_weights=_gate_weights(data),
        subtract=True,  # the exported federation was created with its negative weights confirmed
    )
    audit.record(user, "federation.import", federation, f"imported federation {federation.name}")
    return federation


def export_slug(federation: Federation) -> str:
    """The federation's name as a safe file stem (the config and the composed adapter download under it)."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", federation.name).strip("-") or "federation"


def export_composed_adapter(federation: Federation, user=None) -> Path:
    """Zip one PEFT adapter folder equal to the additive federation's weighted sum; returns the zip path."""
    from federation.engine.export import export_composed_adapter as build_folder

    if federation.method != Method.ADDITIVE:
        raise ServiceError(
            "Only additive federations compose into one adapter; gated and sequential need all members."
        )
    slug = export_slug(federation)
    folder = data_dir(EXPORTS) / "federations" / f"{slug}-v{federation.version}"
    folder.parent.mkdir(parents=True, exist_ok=True)
    try:
        # The members are read by path (peft): refuse any adapter folder that holds a symlink before they are.
        for member in federation.ordered_members():
            for _name, _handle in iter_tree_inside(member.adapter.path):
                pass
    except UnsafeFile as exc:
        raise ServiceError(f"Cannot compose {federation.name}: {exc}") from None
    try:
        build_folder(
            services.composition_spec(federation),
            folder,
            name=federation.name,
            base_name=federation.base_model.name,
        )
    except ValueError as exc:
        raise ServiceError(f"Cannot compose {federation.name}: {exc}") from None
    archive = _zip_folder(folder)
    audit.record(
        user, "federation.export_adapter", federation, f"exported composed adapter of {federation.name}"
    )
    return Path(archive)


def _zip_folder(folder: Path) -> str:
    """The folder as a zip beside it, each file opened without following symlinks."""
    import zipfile

    target = folder.with_suffix(".zip")
    with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for rel, handle in iter_tree_inside(folder):
            with archive.open(rel, "w") as member:
                shutil.copyfileobj(handle, member, 1 << 20)
    return str(target)
