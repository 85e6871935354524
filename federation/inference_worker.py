"""The inference worker's side: its process-wide model cache, cache-clear requests via Redis, and its published state."""

from __future__ import annotations

import json
import logging
import time

from django.conf import settings

from federation.engine.cache import CacheLookup, ModelCache
from rmnconsole.core import queues
from rmnconsole.core.errors import ServiceError
from rmnconsole.core.heartbeat import worker_id

logger = logging.getLogger(__name__)

# A counter every worker compares with what it last saw: "clear" reaches all inference workers, not just one.
CLEAR_EPOCH_KEY = "rmn:federation:model-cache:clear-epoch"
STATE_KEY_PREFIX = "rmn:federation:model-cache:worker:"
STATE_TTL_SECONDS = 6 * 3600

_cache: ModelCache | None = None
_seen_epoch: int | None = None


def redis_connection():
    import django_rq

    return django_rq.get_connection(queues.INFERENCE)


def model_cache() -> ModelCache:
    """This process's cache; its size follows settings.RMN_MODEL_CACHE_SIZE."""
    global _cache
    capacity = int(settings.RMN_MODEL_CACHE_SIZE)
    if _cache is None:
        _cache = ModelCache(capacity)
    elif _cache.capacity != capacity:
        _cache.resize(capacity)
    return _cache


def honour_clear_requests() -> bool:
    """Clear this process's cache if an admin asked since we last looked; True when it cleared."""
    global _seen_epoch
    epoch = int(redis_connection().get(CLEAR_EPOCH_KEY) or 0)
    if _seen_epoch is None:
        _seen_epoch = epoch
        return False
    if epoch != _seen_epoch:
        _seen_epoch = epoch
        dropped = model_cache().clear()
        logger.info("model cache cleared on request (%d models dropped)", len(dropped))
        publish_state()
        return True
    return False


def composed_for(federation) -> tuple[object, CacheLookup]:
    """The federation's composed model: from the cache, or built once and kept (keyed by id + version)."""
    from federation.engine import runtime
    from federation.services import composition_spec

    honour_clear_requests()
    # An older version of this federation will never be asked for again: free it now.
    model_cache().evict(lambda key: key[0] == federation.pk and key[1] != federation.version)
    lookup = model_cache().get_or_load(
        federation.cache_key, lambda: runtime.build(composition_spec(federation))
    )
    if lookup.evicted:
        logger.info("evicted %s from the model cache", lookup.evicted)
    publish_state()
    return lookup.value, lookup


def clear_local() -> list:
    global _seen_epoch
    dropped = model_cache().clear()
    try:
        _seen_epoch = int(redis_connection().get(CLEAR_EPOCH_KEY) or 0)
    except Exception:
        logger.warning("could not read the cache clear epoch", exc_info=True)
    publish_state()
    return dropped


def publish_state() -> None:
    cache = model_cache()
    state = {
        "worker": worker_id(),
        "capacity": cache.capacity,
        "models": [{"federation_id": k[0], "version": k[1]} for k in cache.entries() if k[0] != "adapter"],
        # The serving worker (manage.py serve_models) also caches single adapters merged on their base.
        "adapters": [k[1] for k in cache.entries() if k[0] == "adapter"],
        "hits": cache.hits,
        "misses": cache.misses,
        "updated": time.time(),
    }
    try:
        redis_connection().set(STATE_KEY_PREFIX + worker_id(), json.dumps(state), ex=STATE_TTL_SECONDS)
    except Exception:
        logger.warning("could not publish the model cache state", exc_info=True)


def request_clear() -> int:
    return int(redis_connection().incr(CLEAR_EPOCH_KEY))


def cache_states() -> list[dict]:
    """What every inference worker has cached (as each last published it)."""
    connection = redis_connection()
    states = []
    for key in connection.scan_iter(match=STATE_KEY_PREFIX + "*", count=100):
        raw = connection.get(key)
        if raw:
            try:
                states.append(json.loads(raw))
            except ValueError:
                continue
    return sorted(states, key=lambda s: s.get("worker", ""))


def error_text(exc: BaseException) -> str:
    """One line for a failed inference-side job (test prompt, eval run, A/B test): out of GPU memory also empties
    this worker's model cache, so the next job can load."""
    if isinstance(exc, ServiceError):
        return exc.message
    try:
        import torch

        if isinstance(exc, torch.cuda.OutOfMemoryError):
            clear_local()
            return (
                "Out of GPU memory: the model cache was cleared; lower RMN_MODEL_CACHE_SIZE if this repeats."
            )
    except ImportError:
        pass
    return f"{type(exc).__name__}: {exc}"
