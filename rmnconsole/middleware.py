"""Login for every page; /api and /metrics answer 401 themselves instead of redirecting."""

from django.conf import settings
from django.contrib.auth.middleware import LoginRequiredMiddleware as _DjangoLoginRequired

EXEMPT_PREFIXES = ("/api/", "/metrics")


class LoginRequiredMiddleware(_DjangoLoginRequired):
    def process_view(self, request, view_func, view_args, view_kwargs):
        if request.path.startswith(EXEMPT_PREFIXES) or request.path.startswith(
            settings.STATIC_URL if settings.STATIC_URL.startswith("/") else "/" + settings.STATIC_URL
        ):
            return None
        return super().process_view(request, view_func, view_args, view_kwargs)
