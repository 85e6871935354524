"""What page views share: a service's NotFound shown as Django's 404 page, a service's refusal shown on the form,
the status that stops htmx polling."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from django.http import Http404, HttpResponse

from rmnconsole.core.errors import NotFound, ServiceError


@contextmanager
def not_found_as_404() -> Iterator[None]:
    """Inside a page view: a NotFound a service raises becomes a 404 page with its message (not a 500)."""
    try:
        yield
    except NotFound as exc:
        raise Http404(exc.message) from None


def show_refusal(form, exc: ServiceError, field: str | None = None) -> None:
    """A service's refusal on the form that asked: next to `field` (default: the field the service named) when the
    form has that field, else above the form."""
    field = exc.field if field is None else field
    form.add_error(field if field in form.fields else None, exc.message)


# htmx stops polling an element whose request is answered with this status.
STOP_POLLING = 286


def stop_polling_when(
    finished: bool, response: HttpResponse, headers: dict[str, str] | None = None
) -> HttpResponse:
    """A polled partial: once `finished`, answered 286 (htmx stops polling it) with `headers` (HX-Refresh …)."""
    if finished:
        response.status_code = STOP_POLLING
        for name, value in (headers or {}).items():
            response[name] = value
    return response
