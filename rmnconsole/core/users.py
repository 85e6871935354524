"""Who acts, for the doors that name a user instead of carrying a session (the Python facade, manage.py)."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model

from rmnconsole.core.errors import NotFound


def resolve_user(user: Any):
    """A User, a username, or None (nobody in particular: staff-only actions are then refused)."""
    if user is None or hasattr(user, "is_staff"):
        return user
    found = get_user_model().objects.filter(username=str(user)).first()
    if found is None:
        raise NotFound(f"no user named {user!r}")
    return found


def signed_in(user: Any):
    """The user to record as who did it (created_by, acknowledged_by): a signed-in user, else None."""
    return user if getattr(user, "is_authenticated", False) else None
