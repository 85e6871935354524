"""What page views share: a service's NotFound shown as Django's 404 page."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from django.http import Http404, HttpResponse

from rmnconsole.core.errors import NotFound


@contextmanager
def not_found_as_404() -> Iterator[None]:
    """Inside a page view: a NotFound a service raises becomes a 404 page with its message (not a 500)."""
    try:
        yield
    except NotFound as exc:
        raise Http404(exc.message) from None


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
