"""/v1: the OpenAI-compatible endpoint. Bearer tokens only (no session, so no CSRF to check), OpenAI errors."""

from __future__ import annotations

import time
from functools import wraps

from asgiref.sync import sync_to_async
from django.conf import settings
from django.http import JsonResponse, StreamingHttpResponse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from redis.exceptions import RedisError

from federation.serving import broker, protocol, stats
from federation.serving.models import Deployment
from federation.serving.protocol import ApiError
from federation.serving.services import deployment_rows, parse_model_name, route
from rmnconsole.core.disconnect import client_gone, is_asgi
from rmnconsole.core.errors import NotFound
from rmnconsole.models import ApiToken, digest_token

REPLY_POLL_SECONDS = (
    0.25  # how long one wait for the worker lasts before checking that the caller is still there
)


def authenticate(request) -> ApiToken:
    scheme, _, raw = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not raw.strip():
        raise ApiError(401, "Missing API key: send 'Authorization: Bearer <token>'.", code="invalid_api_key")
    token = ApiToken.objects.active().select_related("user").filter(digest=digest_token(raw.strip())).first()
    if token is None or not token.user.is_active:
        raise ApiError(401, "Incorrect API key provided.", code="invalid_api_key")
    now = timezone.now()
    if token.last_used_at is None or (now - token.last_used_at).total_seconds() > 60:
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
    limit = token.requests_per_minute or int(settings.RMN_SERVING_REQUESTS_PER_MINUTE)
    over, retry_after = broker.over_limit(token.pk, limit)
    if over:
        raise ApiError(
            429,
            f"Rate limit reached: this token may send {limit} requests per minute.",
            code="rate_limit_exceeded",
            headers={"Retry-After": str(retry_after)},
        )
    return token


def openai_view(method: str):
    """Bearer auth, one HTTP method, every failure as an OpenAI error body."""

    def decorate(view):
        @csrf_exempt  # Bearer tokens only: no cookie authenticates here, so there is no CSRF to forge
        @wraps(view)
        def wrapper(request, *args, **kwargs):
            try:
                if request.method != method:
                    raise ApiError(405, f"Use {method} on this endpoint.", headers={"Allow": method})
                token = authenticate(request)
                return view(request, token, *args, **kwargs)
            except ApiError as exc:
                return exc.response()
            except RedisError:
                # The queue between this process and the workers is down: nothing can be served right now.
                return ApiError(
                    503, "The serving queue is unavailable; try again shortly.", code="unavailable"
                ).response()

        return wrapper

    return decorate


def listed_models(token: ApiToken) -> list[dict]:
    """Every deployed stage this token may call: `name` (production) and `name@staging`."""
    data = []
    for row in deployment_rows():
        if not token.allows_deployment(row["name"]):
            continue
        for stage in sorted(row["stages"]):
            if row["stages"][stage]["target"] is None:
                continue
            model_id = row["name"] if stage == "production" else f"{row['name']}@{stage}"
            data.append(
                {"id": model_id, "object": "model", "created": row["created"], "owned_by": "rmn-console"}
            )
    return data


@openai_view("GET")
def models(request, token: ApiToken):
    return JsonResponse({"object": "list", "data": listed_models(token)})


@openai_view("GET")
def model_detail(request, token: ApiToken, model: str):
    for entry in listed_models(token):
        if entry["id"] == model:
            return JsonResponse(entry)
    raise ApiError(404, f"The model '{model}' does not exist.", code="model_not_found", param="model")


@openai_view("POST")
def chat_completions(request, token: ApiToken):
    body = protocol.parse_body(request)
    model = protocol.model_name(body)
    payload = {"kind": "chat", "messages": protocol.chat_messages(body)}
    return _serve(request, token, model, payload, body)


@openai_view("POST")
def completions(request, token: ApiToken):
    body = protocol.parse_body(request)
    model = protocol.model_name(body)
    payload = {"kind": "completion", "prompt": protocol.completion_prompt(body)}
    return _serve(request, token, model, payload, body)


def _resolve(token: ApiToken, model: str):
    name, stage = parse_model_name(model)
    deployment = Deployment.objects.filter(name=name).first()
    if deployment is None or not token.allows_deployment(name) or stage not in ("production", "staging"):
        # A scoped token is told the same as for a model that does not exist: it cannot probe other names.
        raise ApiError(
            404,
            f"The model '{model}' does not exist or you do not have access to it.",
            code="model_not_found",
            param="model",
        )
    try:
        draw = broker.canary_draw(name, stage)
        target, canary = route(deployment, stage, draw=draw)
    except NotFound as exc:
        raise ApiError(404, exc.message, code="model_not_found", param="model") from None
    return deployment, target, canary


class _ClientGone(Exception):
    """The caller hung up while its answer was being generated."""


def _await_reply(request, request_id: str, timeout: float) -> dict | None:
    """The worker's answer, in short waits so a caller who hung up (ASGI) is noticed within a fraction of a
    second: its request is then cancelled, and the worker stops generating it."""
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return None
        reply = broker.next_reply(request_id, min(REPLY_POLL_SECONDS, left))
        if reply is not None:
            return reply
        if client_gone(request):
            raise _ClientGone


def _serve(request, token: ApiToken, model: str, payload: dict, body: dict):
    deployment, target, _canary = _resolve(token, model)
    settings_ = protocol.generation_settings(body, int(settings.RMN_SERVING_MAX_TOKENS))
    payload.update(settings_)
    started = time.perf_counter()
    if not broker.live_workers():
        stats.record(deployment.name, target.label, error=True)
        raise ApiError(
            503, "No serving worker is running: start one with `manage.py serve_models`.", code="no_worker"
        )
    request_id = broker.submit(dict(target.as_dict(), key=target.key, version=target.version), payload)
    kind = payload["kind"]
    if settings_["stream"]:
        stream = _Stream(deployment.name, target, request_id, model, kind, started)
        events = stream.async_events() if is_asgi(request) else stream.events()
        response = StreamingHttpResponse(events, content_type="text/event-stream")
        response["Cache-Control"] = "no-cache"
        response["X-Accel-Buffering"] = "no"
        return response
    try:
        reply = _await_reply(request, request_id, float(settings.RMN_SERVING_TIMEOUT_SECONDS))
    except _ClientGone:
        broker.cancel(request_id)
        stats.record(deployment.name, target.label, cancelled=True)
        return JsonResponse({"error": {"message": "The client closed the request."}}, status=499)
    if reply is None:
        broker.withdraw(target.key, request_id)
        stats.record(deployment.name, target.label, error=True)
        raise ApiError(503, "No serving worker answered in time; try again.", code="timeout")
    if "error" in reply:
        stats.record(deployment.name, target.label, error=True)
        raise ApiError(int(reply.get("status", 500)), reply["error"]["message"])
    stats.record(
        deployment.name,
        target.label,
        prompt_tokens=reply["prompt_tokens"],
        completion_tokens=reply["completion_tokens"],
        latency_ms=(time.perf_counter() - started) * 1000.0,
    )
    build = protocol.chat_body if kind == "chat" else protocol.completion_body
    return JsonResponse(build(request_id, model, reply))


class _Stream:
    """One request's server-sent events. Under ASGI (daphne) the events must come from an async iterator, or
    Django collects the whole answer before sending any of it; under WSGI from a plain one. Either way, a stream
    closed before its last event means the client hung up: the request is cancelled and the worker stops."""

    def __init__(
        self, deployment: str, target, request_id: str, model: str, kind: str, started: float
    ) -> None:
        self.deployment, self.target, self.request_id = deployment, target, request_id
        self.model, self.kind, self.started = model, kind, started
        # The timeout is the longest silence from the worker, not the length of the whole stream.
        self.timeout = float(settings.RMN_SERVING_TIMEOUT_SECONDS)
        self.deadline = time.monotonic() + self.timeout
        self.first = True
        self.finished = False

    def wait(self) -> float:
        return max(0.0, min(REPLY_POLL_SECONDS, self.deadline - time.monotonic()))

    def handle(self, reply: dict | None) -> list[bytes]:
        """The events one worker message (None: a poll that got nothing) turns into; sets `finished` at the end."""
        if reply is None and time.monotonic() < self.deadline:
            return []
        self.deadline = time.monotonic() + self.timeout
        if reply is None or "error" in reply:
            if reply is None:
                broker.withdraw(self.target.key, self.request_id)
            stats.record(self.deployment, self.target.label, error=True, streamed=True)
            message = reply["error"]["message"] if reply else "No serving worker answered in time."
            self.finished = True
            return [
                protocol.sse({"error": {"message": message, "type": "server_error", "code": None}}),
                protocol.sse("[DONE]"),
            ]
        kind, request_id, model = self.kind, self.request_id, self.model
        if "delta" in reply:
            event = protocol.sse(
                protocol.chunk(kind, request_id, model, text=reply["delta"], role=self.first)
            )
            self.first = False
            return [event]
        events = []
        if self.first:
            events.append(protocol.sse(protocol.chunk(kind, request_id, model, text="", role=True)))
        events += [
            protocol.sse(
                protocol.chunk(kind, request_id, model, finish_reason=reply["finish_reason"], usage_of=reply)
            ),
            protocol.sse("[DONE]"),
        ]
        stats.record(
            self.deployment,
            self.target.label,
            prompt_tokens=reply["prompt_tokens"],
            completion_tokens=reply["completion_tokens"],
            latency_ms=(time.perf_counter() - self.started) * 1000.0,
            streamed=True,
        )
        self.finished = True
        return events

    def hung_up(self) -> None:
        if not self.finished:
            self.finished = True
            broker.cancel(self.request_id)
            stats.record(self.deployment, self.target.label, cancelled=True, streamed=True)

    def events(self):
        try:
            while not self.finished:
                yield from self.handle(broker.next_reply(self.request_id, self.wait()))
        finally:  # closed early by the server (GeneratorExit): the client is gone
            self.hung_up()

    async def async_events(self):
        next_reply = sync_to_async(broker.next_reply, thread_sensitive=False)
        try:
            while not self.finished:
                for event in self.handle(await next_reply(self.request_id, self.wait())):
                    yield event
        finally:  # cancelled by Django's disconnect handling, or closed early
            self.hung_up()
