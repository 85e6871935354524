"""Request guards: login for every page (/api and /metrics answer 401 themselves), no NUL bytes, no oversize body,
no repeated one-value query parameter on the API."""

import functools

from django.conf import settings
from django.contrib.auth.middleware import LoginRequiredMiddleware as _DjangoLoginRequired
from django.core.exceptions import RequestDataTooBig
from django.http import HttpResponse, HttpResponseBadRequest, JsonResponse

EXEMPT_PREFIXES = ("/api/", "/metrics", "/v1/")  # these answer 401 themselves


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
        query = request.META.get("QUERY_STRING", "")
        if "\x00" in request.path or "\x00" in query or "%00" in query.lower():
            return True
        content_type = request.META.get("CONTENT_TYPE", "").lower()
        if content_type.startswith("multipart/"):
            return False  # parsed by the views' own upload handlers; their text fields are checked there
        # Any other body may reach the database: ninja parses JSON whatever the declared type says.
        body = request.body
        if b"\x00" in body or b"\\u0000" in body:
            return True
        return content_type.startswith("application/x-www-form-urlencoded") and b"%00" in body


class ApiJsonErrorsMiddleware:
    """Under /api every error answers JSON with a "detail": those Django raises before a view runs (malformed
    multipart, 413, CSRF), unknown paths (404), and an unexpected exception (Django has logged it; the traceback
    is never shown)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if (
            request.path.startswith("/api/")
            and response.status_code >= 400
            and not response.get("Content-Type", "").startswith("application/json")
        ):
            converted = JsonResponse({"detail": _api_error_detail(response)}, status=response.status_code)
            for header in ("Allow", "WWW-Authenticate", "Retry-After"):  # what the status means needs these
                if header in response:
                    converted[header] = response[header]
            return converted
        return response


def _api_error_detail(response) -> str:
    if response.status_code == 404:
        return "No such API endpoint or object."
    if response.status_code == 405:
        return "This method is not allowed on this endpoint."
    if response.status_code >= 500:
        return "Internal error; it has been logged."
    reason = response.reason_phrase or "Request refused"
    return f"{reason} (the request could not be parsed)"
