"""The OpenAI wire format: request validation (400 with OpenAI's error shape) and response bodies."""

from __future__ import annotations

import json
import time

from django.http import JsonResponse

MAX_STOP = 4
ROLES = ("system", "user", "assistant", "developer", "tool")


class ApiError(Exception):
    """An OpenAI-shaped error: {"error": {"message", "type", "code", "param"}} with an HTTP status."""

    TYPES = {
        400: "invalid_request_error",
        401: "authentication_error",
        403: "permission_error",
        404: "not_found_error",
        405: "invalid_request_error",
        429: "rate_limit_exceeded",
        500: "server_error",
        503: "service_unavailable",
    }

    def __init__(
        self, status: int, message: str, *, code: str | None = None, param: str | None = None, headers=None
    ):
        super().__init__(message)
        self.status, self.message, self.code, self.param = status, message, code, param
        self.headers = headers or {}

    def response(self) -> JsonResponse:
        body = {
            "error": {
                "message": self.message,
                "type": self.TYPES.get(self.status, "invalid_request_error"),
                "param": self.param,
                "code": self.code,
            }
        }
        response = JsonResponse(body, status=self.status)
        for name, value in self.headers.items():
            response[name] = value
        return response


def bad(message: str, param: str | None = None) -> ApiError:
    return ApiError(400, message, code="invalid_value" if param else None, param=param)


def parse_body(request) -> dict:
    try:
        body = json.loads(request.body or b"{}")
    except (ValueError, UnicodeDecodeError):
        raise bad("The request body is not valid JSON.") from None
    if not isinstance(body, dict):
        raise bad("The request body must be a JSON object.")
    return body


def _number(body: dict, name: str, default: float, low: float, high: float) -> float:
    value = body.get(name)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
        raise bad(f"'{name}' must be a number from {low:g} to {high:g}.", name)
    return float(value)


def generation_settings(body: dict, max_tokens_limit: int) -> dict:
    """The sampling fields every endpoint shares, checked; n must be 1 (one choice per request)."""
    n = body.get("n", 1)
    if n != 1 or isinstance(n, bool):
        raise bad("Only n=1 is supported (one choice per request).", "n")
    max_tokens = body.get("max_completion_tokens", body.get("max_tokens"))
    if max_tokens is None:
        max_tokens = min(256, max_tokens_limit)
    if (
        isinstance(max_tokens, bool)
        or not isinstance(max_tokens, int)
        or not 1 <= max_tokens <= max_tokens_limit
    ):
        raise bad(f"'max_tokens' must be a whole number from 1 to {max_tokens_limit}.", "max_tokens")
    seed = body.get("seed")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2**63):
        raise bad("'seed' must be a non-negative whole number.", "seed")
    stop = body.get("stop")
    if stop is None:
        stops: list[str] = []
    elif isinstance(stop, str):
        stops = [stop]
    elif isinstance(stop, list) and all(isinstance(s, str) for s in stop):
        stops = stop
    else:
        raise bad("'stop' must be a string or a list of up to 4 strings.", "stop")
    if len(stops) > MAX_STOP or any(not s for s in stops):
        raise bad("'stop' takes up to 4 non-empty strings.", "stop")
    stream = body.get("stream", False)
    if not isinstance(stream, bool):
        raise bad("'stream' must be true or false.", "stream")
    top_p = _number(body, "top_p", 1.0, 0.0, 1.0)
    if top_p <= 0:
        raise bad("'top_p' must be greater than 0.", "top_p")
    return {
        "max_tokens": max_tokens,
        "temperature": _number(body, "temperature", 1.0, 0.0, 2.0),
        "top_p": top_p,
        "seed": seed,
        "stop": stops,
        "stream": stream,
    }


def model_name(body: dict) -> str:
    model = body.get("model")
    if not isinstance(model, str) or not model.strip():
        raise bad("'model' is required: the deployment name (or name@staging).", "model")
    return model.strip()


def chat_messages(body: dict) -> list[dict]:
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise bad("'messages' must be a non-empty list of {role, content}.", "messages")
    out = []
    for index, message in enumerate(messages):
        if not isinstance(message, dict) or message.get("role") not in ROLES:
            raise bad(f"messages[{index}] needs a role ({', '.join(ROLES)}).", f"messages[{index}].role")
        content = message.get("content")
        if isinstance(content, list):
            # The content-parts form: text parts only (this endpoint serves text models).
            if not all(
                isinstance(p, dict) and p.get("type") == "text" and isinstance(p.get("text"), str)
                for p in content
            ):
                raise bad(
                    f"messages[{index}].content: only text parts are supported.", f"messages[{index}].content"
                )
            content = "".join(p["text"] for p in content)
        if not isinstance(content, str):
            raise bad(f"messages[{index}].content must be text.", f"messages[{index}].content")
        role = "system" if message["role"] == "developer" else message["role"]
        out.append({"role": role, "content": content})
    return out


def completion_prompt(body: dict) -> str:
    prompt = body.get("prompt")
    if isinstance(prompt, list) and len(prompt) == 1 and isinstance(prompt[0], str):
        prompt = prompt[0]
    if not isinstance(prompt, str):
        raise bad("'prompt' must be one string (batches of prompts are not supported).", "prompt")
    return prompt


def usage(reply: dict) -> dict:
    prompt, completion = int(reply.get("prompt_tokens", 0)), int(reply.get("completion_tokens", 0))
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}


def chat_body(request_id: str, model: str, reply: dict) -> dict:
    return {
        "id": f"chatcmpl-{request_id}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "system_fingerprint": None,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": reply["text"]},
                "logprobs": None,
                "finish_reason": reply["finish_reason"],
            }
        ],
        "usage": usage(reply),
    }


def completion_body(request_id: str, model: str, reply: dict) -> dict:
    return {
        "id": f"cmpl-{request_id}",
        "object": "text_completion",
        "created": int(time.time()),
        "model": model,
        "system_fingerprint": None,
        "choices": [
            {"index": 0, "text": reply["text"], "logprobs": None, "finish_reason": reply["finish_reason"]}
        ],
        "usage": usage(reply),
    }


def chunk(
    kind: str,
    request_id: str,
    model: str,
    *,
    text: str | None = None,
    role: bool = False,
    finish_reason: str | None = None,
    usage_of: dict | None = None,
) -> dict:
    created = int(time.time())
    if kind == "chat":
        delta: dict = {}
        if role:
            delta["role"] = "assistant"
        if text is not None:
            delta["content"] = text
        body = {
            "id": f"chatcmpl-{request_id}",
            "object": "chat.completion.chunk",
            "created": created,
            "model": model,
            "system_fingerprint": None,
            "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}],
        }
    else:
        body = {
            "id": f"cmpl-{request_id}",
            "object": "text_completion",
            "created": created,
            "model": model,
            "choices": [{"index": 0, "text": text or "", "logprobs": None, "finish_reason": finish_reason}],
        }
    if usage_of is not None:
        body["usage"] = usage(usage_of)
    return body


def sse(data: dict | str) -> bytes:
    return f"data: {data if isinstance(data, str) else json.dumps(data)}\n\n".encode()
