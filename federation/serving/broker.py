"""The Redis side of serving: request queues per target, reply lists per request, live workers, counters.

The web process pushes a request onto its target's list and blocks on the request's reply list; a serving
worker pops up to a batch of requests from one target's list, runs them in one generate call and pushes the
replies (a streaming request gets one message per text delta, then a final one).
"""

from __future__ import annotations

import json
import time
import uuid

from django.conf import settings

PREFIX = "rmn:serving:"
TARGETS = PREFIX + "targets"  # hash: target key → target JSON (which queues a worker watches)
WORKERS = PREFIX + "workers"  # sorted set: worker id → last heartbeat (unix time)
BATCHES = PREFIX + "batch-sizes"  # hash: batch size → how many batches ran with it
REPLY_TTL_SECONDS = 300


_clients: dict[str, object] = {}


def connection():
    """A client without a socket read timeout: BLPOP waits up to the request timeout, longer than the default 5 s."""
    import redis

    url = settings.REDIS_URL
    if url not in _clients:
        _clients[url] = redis.Redis.from_url(url, socket_timeout=None, socket_connect_timeout=5)
    return _clients[url]


def queue_key(target_key: str) -> str:
    return f"{PREFIX}q:{target_key}"


def reply_key(request_id: str) -> str:
    return f"{PREFIX}r:{request_id}"


def new_request_id() -> str:
    return uuid.uuid4().hex


def heartbeat(worker: str, info: dict | None = None) -> None:
    redis = connection()
    redis.zadd(WORKERS, {worker: time.time()})
    redis.set(
        f"{PREFIX}worker:{worker}", json.dumps(info or {}), ex=int(settings.RMN_SERVING_WORKER_STALE_SECONDS)
    )


def forget_worker(worker: str) -> None:
    connection().zrem(WORKERS, worker)


def live_workers() -> list[str]:
    stale = time.time() - float(settings.RMN_SERVING_WORKER_STALE_SECONDS)
    redis = connection()
    redis.zremrangebyscore(WORKERS, "-inf", stale)
    return [w.decode() if isinstance(w, bytes) else w for w in redis.zrange(WORKERS, 0, -1)]


def submit(target: dict, payload: dict) -> str:
    """Queue one request for `target` ({key, kind, id, version, label}); returns its request id."""
    redis = connection()
    request_id = new_request_id()
    message = dict(
        payload, id=request_id, target=target, expires_at=time.time() + settings.RMN_SERVING_TIMEOUT_SECONDS
    )
    pipe = redis.pipeline()
    pipe.hset(TARGETS, target["key"], json.dumps(target))
    pipe.rpush(queue_key(target["key"]), json.dumps(message))
    pipe.execute()
    return request_id


def withdraw(target_key: str, request_id: str) -> None:
    """A request nobody picked up is taken off its queue (so no worker runs it after we answered 503)."""
    redis = connection()
    for raw in redis.lrange(queue_key(target_key), 0, -1):
        if json.loads(raw).get("id") == request_id:
            redis.lrem(queue_key(target_key), 1, raw)


def cancel_key(request_id: str) -> str:
    return f"{PREFIX}cancel:{request_id}"


def cancel(request_id: str) -> None:
    """The caller hung up: a worker skips this request, or stops generating it at its next token."""
    connection().set(cancel_key(request_id), 1, ex=REPLY_TTL_SECONDS)


def cancelled(request_ids: list[str]) -> set[str]:
    """Which of these requests their callers have given up on (one round trip)."""
    if not request_ids:
        return set()
    flags = connection().mget([cancel_key(r) for r in request_ids])
    return {request_id for request_id, flag in zip(request_ids, flags, strict=True) if flag}


def next_reply(request_id: str, timeout: float) -> dict | None:
    popped = connection().blpop([reply_key(request_id)], timeout=max(0.01, timeout))
    return json.loads(popped[1]) if popped else None


def reply(request_id: str, message: dict) -> None:
    redis = connection()
    pipe = redis.pipeline()
    pipe.rpush(reply_key(request_id), json.dumps(message))
    pipe.expire(reply_key(request_id), REPLY_TTL_SECONDS)
    pipe.execute()


def watched_targets() -> dict[str, dict]:
    raw = connection().hgetall(TARGETS)
    return {(k.decode() if isinstance(k, bytes) else k): json.loads(v) for k, v in raw.items()}


def take_batch(
    target_keys: list[str], max_batch: int, wait_ms: float, block_s: float = 1.0
) -> tuple[str, list[dict]] | None:
    """Block for a first request on any target, then gather up to max_batch for the same target within wait_ms."""
    redis = connection()
    popped = redis.blpop([queue_key(k) for k in target_keys], timeout=block_s)
    if not popped:
        return None
    queue = popped[0].decode() if isinstance(popped[0], bytes) else popped[0]
    batch = [json.loads(popped[1])]
    deadline = time.monotonic() + wait_ms / 1000.0
    while len(batch) < max_batch:
        # Take what is already waiting first, then wait out the rest of the window for more.
        raw = redis.lpop(queue)
        if raw is None:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            more = redis.blpop([queue], timeout=max(0.01, left))
            if not more:
                break
            raw = more[1]
        batch.append(json.loads(raw))
    return queue.removeprefix(PREFIX + "q:"), batch


def count_batch(size: int) -> None:
    connection().hincrby(BATCHES, str(size), 1)


def batch_sizes() -> dict[int, int]:
    return {int(k): int(v) for k, v in connection().hgetall(BATCHES).items()}


# --- per-token request limit -------------------------------------------------------------------------------------


def over_limit(token_id: int, per_minute: int) -> tuple[bool, int]:
    """Count this request in the token's current minute; (over the limit?, seconds until the minute ends)."""
    now = time.time()
    minute = int(now // 60)
    key = f"{PREFIX}rate:{token_id}:{minute}"
    redis = connection()
    pipe = redis.pipeline()
    pipe.incr(key)
    pipe.expire(key, 120)
    count = pipe.execute()[0]
    return count > per_minute, int(60 - now % 60) + 1


def canary_draw(deployment: str, stage: str) -> int:
    """0–99 from a per-deployment counter: a 10% canary gets exactly 10 of every 100 requests."""
    return (int(connection().incr(f"{PREFIX}draw:{deployment}:{stage}")) - 1) % 100
