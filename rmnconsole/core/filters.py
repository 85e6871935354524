"""Optional list filters, as the list doors (API, pages, CLI) take them."""

from __future__ import annotations

from typing import Any, TypeVar

from django.db.models import QuerySet

Rows = TypeVar("Rows", bound=QuerySet)


def filter_given(rows: Rows, **lookups: Any) -> Rows:
    """`rows` filtered on each lookup that was given: None, "" and 0 mean "any", as an absent query parameter does."""
    return rows.filter(**{lookup: value for lookup, value in lookups.items() if value})
