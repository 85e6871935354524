"""The one rule for every name a user gives a thing (adapters, datasets, federations, mappings): a name is a label,
never a path, so it becomes part of file names and URLs without escaping anything."""

from __future__ import annotations

import re

from rmnconsole.core.errors import ServiceError

MAX_NAME_LENGTH = 100
# Letters, digits, '_', '-', '.', and single inner spaces; it starts with a letter or digit.
_NAME = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9_.-]| (?! ))*$")
RULE = "letters, digits, '_', '-', '.' and single spaces, starting with a letter or digit (e.g. amazon_schema_v2)"


def validate_name(value: str | None, *, field: str = "name", what: str = "The name") -> str:
    """Return the stripped name, or raise ServiceError (on `field`) saying what the rule is."""
    name = (value or "").strip()
    if not name:
        raise ServiceError(f"{what} is empty: give a name ({RULE}).", field=field)
    if len(name) > MAX_NAME_LENGTH:
        raise ServiceError(f"{what} is longer than {MAX_NAME_LENGTH} characters.", field=field)
    if ".." in name or not _NAME.match(name):
        raise ServiceError(f"{what} {name!r} is not allowed: use {RULE}.", field=field)
    return name
