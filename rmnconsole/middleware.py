"""Request guards: login for every page (/api and /metrics answer 401 themselves), no NUL bytes, no oversize body,
no repeated one-value query parameter on the API."""

import functools

from django.conf import settings
from django.contrib.auth.middleware import LoginRequiredMiddleware as _DjangoLoginRequired
from django.core.exceptions import RequestDataTooBig
from django.http import HttpResponse, HttpResponseBadRequest, JsonResponse

EXEMPT_PREFIXES = ("/api/", "/metrics")


@functools.cache
def _api_list_params() -> frozenset[str]:
    """Query parameters some /api endpoint declares as a list (those may repeat; no other may)."""
    from rmnconsole.api import api

    names = set()
    for operations in api.get_openapi_schema(path_prefix="/api")["paths"].values():
        for operation in operations.values():
            for param in operation.get("parameters", []):
                schema = param.get("schema", {})
                kinds = [schema, *schema.get("anyOf", [])]
                if param.get("in") == "query" and any(k.get("type") == "array" for k in kinds):
                    names.add(param["name"])
    return frozenset(names)


class LoginRequiredMiddleware(_DjangoLoginRequired):
    def process_view(self, request, view_func, view_args, view_kwargs):
        if request.path.startswith(EXEMPT_PREFIXES) or request.path.startswith(
            settings.STATIC_URL if settings.STATIC_URL.startswith("/") else "/" + settings.STATIC_URL
        ):
            return None
        return super().process_view(request, view_func, view_args, view_kwargs)


class RejectNulBytesMiddleware:
    """Refuse NUL bytes anywhere in a request's text (PostgreSQL cannot store them; no user means them).

    Multipart bodies are left to their views, which install their own upload handlers before reading them.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        try:
            has_nul = self._has_nul(request)
        except RequestDataTooBig:
            # This is the first reader of a JSON or form body: answer an oversize one here, as JSON for the API.
            limit_mb = settings.DATA_UPLOAD_MAX_MEMORY_SIZE / (1024 * 1024)
            message = f"The request body is larger than {limit_mb:g} MB; send files as multipart uploads."
            if request.path.startswith("/api/"):
                return JsonResponse({"detail": message}, status=413)
            return HttpResponse(message, status=413, content_type="text/plain; charset=utf-8")
        if has_nul:
            message = "Request contains a NUL byte (\\u0000), which is not allowed in any field."
            if request.path.startswith("/api/"):
                return JsonResponse({"detail": message}, status=400)
            return HttpResponseBadRequest(message)
        if request.path.startswith("/api/"):
            repeated = [k for k, v in request.GET.lists() if len(v) > 1 and k not in _api_list_params()]
            if repeated:
                # ninja would silently keep the last value of a one-value parameter: say so instead.
                return JsonResponse(
                    {
                        "detail": f"Query parameter {repeated[0]!r} is given more than once; it takes one value."
                    },
                    status=422,
                )
        return self.get_response(request)

    @staticmethod
    def _has_nul(request) -> bool:
        if "\x00" in request.path or "%00" in request.META.get("QUERY_STRING", "").lower():
            return True
        content_type = request.META.get("CONTENT_TYPE", "")
        if content_type.startswith(("application/json", "application/x-www-form-urlencoded")):
            body = request.body
            return b"\x00" in body or b"\\u0000" in body or b"%00" in body
        return False


class ApiJsonErrorsMiddleware:
    """Errors Django raises before a view runs (malformed multipart, 413, CSRF) answer JSON under /api too."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if (
            request.path.startswith("/api/")
            and response.status_code in (400, 413)
            and not response.get("Content-Type", "").startswith("application/json")
        ):
            reason = response.reason_phrase or "Request refused"
            return JsonResponse(
                {"detail": f"{reason} (the request could not be parsed)"}, status=response.status_code
            )
        return response
