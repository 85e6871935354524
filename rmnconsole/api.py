"""The root django-ninja API: authentication, error shapes and every app's router."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from ninja import NinjaAPI, Schema
from ninja.errors import AuthenticationError, ValidationError

from rmnconsole.api_auth import API_AUTH
from rmnconsole.api_schemas import ERRORS
from rmnconsole.core.errors import ServiceError

api = NinjaAPI(
    title="RMN LoRA Admin Console API",
    version="1.0",
    auth=API_AUTH,
    docs_decorator=login_required,
    description="Bearer token (`manage.py create_api_token USERNAME`) or the browser session with CSRF.",
)


@api.exception_handler(ServiceError)
def _service_error(request, exc: ServiceError):
    body = {"detail": exc.message}
    if exc.field:
        body["field"] = exc.field
    if exc.details:
        body["errors"] = exc.details
    return api.create_response(request, body, status=exc.status)


@api.exception_handler(ValidationError)
def _validation_error(request, exc: ValidationError):
    errors = [
        {"loc": [str(p) for p in err.get("loc", [])], "msg": str(err.get("msg", ""))} for err in exc.errors
    ]
    first = errors[0] if errors else {"loc": [], "msg": "invalid input"}
    where = ".".join(p for p in first["loc"] if p not in ("body", "payload", "query", "path"))
    return api.create_response(
        request,
        {"detail": f"Invalid input: {where + ': ' if where else ''}{first['msg']}", "errors": errors},
        status=422,
    )


@api.exception_handler(AuthenticationError)
def _auth_error(request, exc):
    return api.create_response(
        request,
        {"detail": "Authentication required: send 'Authorization: Bearer <token>' or log in."},
        status=401,
    )


class MeOut(Schema):
    username: str
    is_staff: bool


@api.get("/me", response={200: MeOut, **ERRORS}, tags=["system"])
def me(request):
    """Who the credentials belong to."""
    return {"username": request.user.username, "is_staff": request.user.is_staff}


# --- app routers ---
api.add_router("/datasets", "datasets_app.library.api.router")
api.add_router("/training", "training.api.router")
api.add_router("/adapters", "training.api.adapters_router")
api.add_router("/base-models", "training.model_import.api.router")
api.add_router("", "datasets_app.mappings.api.router")
api.add_router("/monitoring", "monitoring.api.router")
api.add_router("", "federation.api.router")
