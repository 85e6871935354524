"""What page views share: a service's NotFound shown as Django's 404 page."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from django.http import Http404

from rmnconsole.core.errors import NotFound


@contextmanager
def not_found_as_404() -> Iterator[None]:
    """Inside a page view: a NotFound a service raises becomes a 404 page with its message (not a 500)."""
    try:
        yield
    except NotFound as exc:
        raise Http404(exc.message) from None
