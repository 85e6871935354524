"""The root django-ninja API: authentication, error shapes and every app's router."""

from __future__ import annotations

import json
from typing import Any

from ninja import NinjaAPI, Schema
from ninja.errors import AuthenticationError, HttpError, ValidationError
from ninja.parser import Parser

from rmnconsole.api_auth import API_AUTH, docs_auth
from rmnconsole.api_schemas import ERRORS
from rmnconsole.core.errors import ServiceError

# pydantic writes a bound on an Annotated (BeforeValidator) int as its Python name inside anyOf; clients read these.
_JSON_SCHEMA_BOUNDS = {"ge": "minimum", "le": "maximum", "gt": "exclusiveMinimum", "lt": "exclusiveMaximum"}


def _publish_bounds(node: Any) -> Any:
    if isinstance(node, dict):
        fixed = {_JSON_SCHEMA_BOUNDS.get(k, k) if k in _JSON_SCHEMA_BOUNDS and "type" in node else k: v
                 for k, v in node.items()}  # fmt: skip
        return {k: _publish_bounds(v) for k, v in fixed.items()}
    if isinstance(node, list):
        return [_publish_bounds(v) for v in node]
    return node


class ObjectBodyParser(Parser):
    """A JSON body is an object or nothing: `[null, null]` or a bare number is not "no payload"."""

    def parse_body(self, request):
        data = json.loads(request.body)
        if not isinstance(data, dict):
            request._rmn_body_error = f"The request body must be a JSON object, not {type(data).__name__}."
            raise ValueError(request._rmn_body_error)
        return data


class ConsoleApi(NinjaAPI):
    def get_openapi_schema(self, *args, **kwargs):
        schema = super().get_openapi_schema(*args, **kwargs)
        fixed = _publish_bounds(dict(schema))
        schema.clear()
        schema.update(fixed)
        return schema


api = ConsoleApi(
    title="RMN LoRA Admin Console API",
    version="1.0",
    auth=API_AUTH,
    docs_decorator=docs_auth,
    parser=ObjectBodyParser(),
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


@api.exception_handler(HttpError)
def _http_error(request, exc: HttpError):
    detail = getattr(request, "_rmn_body_error", None) or str(exc)
    return api.create_response(
        request, {"detail": detail}, status=422 if detail != str(exc) else exc.status_code
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
api.add_router("/mappings", "datasets_app.mappings.api.mappings_router")
api.add_router("/sources", "datasets_app.mappings.api.sources_router")
api.add_router("/rmis", "datasets_app.mappings.api.rmis_router")
api.add_router("/base-models", "training.model_import.api.router")
api.add_router("/sweeps", "training.sweeps.api.router")
api.add_router("/federated", "training.federated.api.router")
api.add_router("/monitoring", "monitoring.api.router")
api.add_router("/federations", "federation.api.federations_router")
api.add_router("/inference", "federation.api.inference_router")
api.add_router("/abtests", "federation.api.abtests_router")
api.add_router("/evals", "federation.evaluation.api.router")
api.add_router("/deployments", "federation.serving.api.router")
api.add_router("/pipelines", "federation.pipelines.api.router")
