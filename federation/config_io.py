"""Portable federations: the config as JSON (export / import) and the composed adapter as one PEFT folder (zip)."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

from django.utils import timezone

from federation import services
from federation.models import Federation, Method
from rmnconsole import audit
from rmnconsole.errors import ServiceError
from rmnconsole.paths import EXPORTS, data_dir

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
    }


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
    )
    audit.record(user, "federation.import", federation, f"imported federation {federation.name}")
    return federation


def export_composed_adapter(federation: Federation, user=None) -> Path:
    """Zip one PEFT adapter folder equal to the additive federation's weighted sum; returns the zip path."""
    from federation.engine.export import export_composed_adapter as build_folder

    if federation.method != Method.ADDITIVE:
        raise ServiceError(
            "Only additive federations compose into one adapter; gated and sequential need all members."
        )
    slug = re.sub(r"[^A-Za-z0-9_.-]+", "-", federation.name).strip("-") or "federation"
    folder = data_dir(EXPORTS) / "federations" / f"{slug}-v{federation.version}"
    folder.parent.mkdir(parents=True, exist_ok=True)
    try:
        build_folder(
            services.composition_spec(federation),
            folder,
            name=federation.name,
            base_name=federation.base_model.name,
        )
    except ValueError as exc:
        raise ServiceError(f"Cannot compose {federation.name}: {exc}") from None
    archive = shutil.make_archive(str(folder), "zip", root_dir=folder)
    audit.record(
        user, "federation.export_adapter", federation, f"exported composed adapter of {federation.name}"
    )
    return Path(archive)
