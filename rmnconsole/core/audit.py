"""One function every service calls to leave an audit trail."""

from __future__ import annotations

from typing import Any

from rmnconsole.core.users import signed_in
from rmnconsole.models import AuditEvent


def record(actor, action: str, obj: Any, summary: str = "", **details: Any) -> AuditEvent:
    user = signed_in(actor)
    return AuditEvent.objects.create(
        actor=user,
        action=action,
        object_type=type(obj).__name__,
        object_id=str(getattr(obj, "pk", obj)),
        summary=summary[:300],
        details=details,
    )
