"""Shared API schemas: the one error body every endpoint documents."""

from __future__ import annotations

from typing import Annotated, Any

from ninja import Schema
from pydantic import BeforeValidator


class ErrorOut(Schema):
    detail: str
    field: str | None = None
    errors: Any = None


ERRORS = {400: ErrorOut, 401: ErrorOut, 403: ErrorOut, 404: ErrorOut, 409: ErrorOut, 422: ErrorOut}


def _no_bool_or_str(value: Any) -> Any:
    # Lax pydantic ints accept false/"3"; strict ones reject 890.0. Refusing only bool and str is the JSON-honest middle.
    if isinstance(value, bool | str):
        raise ValueError("must be a number")
    return value


StrictInt = Annotated[int, BeforeValidator(_no_bool_or_str)]
StrictFloat = Annotated[float, BeforeValidator(_no_bool_or_str)]
