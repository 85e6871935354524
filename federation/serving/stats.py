"""Per-deployment, per-target serving figures in Redis: requests, errors, tokens, latency (read by Monitoring)."""

from __future__ import annotations

from federation.serving.broker import PREFIX, connection

INDEX = PREFIX + "stats-index"
METRICS = (
    "requests",
    "errors",
    "prompt_tokens",
    "completion_tokens",
    "latency_ms_sum",
    "streamed",
    "cancelled",
)


def _key(deployment: str) -> str:
    return f"{PREFIX}stats:{deployment}"


def record(
    deployment: str,
    target: str,
    *,
    error: bool = False,
    prompt_tokens: int = 0,
    completion_tokens: int = 0,
    latency_ms: float = 0.0,
    streamed: bool = False,
    cancelled: bool = False,
) -> None:
    """Count one answered request (`target` is the label of what ran it, '-' when none was reached); a cancelled
    one is a request whose caller hung up before its answer (its generation was stopped)."""
    redis = connection()
    pipe = redis.pipeline()
    key = _key(deployment)
    pipe.sadd(INDEX, deployment)
    pipe.hincrby(key, f"{target}\trequests", 1)
    if error:
        pipe.hincrby(key, f"{target}\terrors", 1)
    if prompt_tokens:
        pipe.hincrby(key, f"{target}\tprompt_tokens", int(prompt_tokens))
    if completion_tokens:
        pipe.hincrby(key, f"{target}\tcompletion_tokens", int(completion_tokens))
    if latency_ms:
        pipe.hincrbyfloat(key, f"{target}\tlatency_ms_sum", float(latency_ms))
    if streamed:
        pipe.hincrby(key, f"{target}\tstreamed", 1)
    if cancelled:
        pipe.hincrby(key, f"{target}\tcancelled", 1)
    pipe.execute()


def snapshot() -> list[dict]:
    """[{deployment, target, requests, errors, prompt_tokens, completion_tokens, latency_ms_sum, mean_latency_ms}]."""
    redis = connection()
    rows = []
    for raw_name in sorted(redis.smembers(INDEX)):
        name = raw_name.decode() if isinstance(raw_name, bytes) else raw_name
        per_target: dict[str, dict] = {}
        for field, value in redis.hgetall(_key(name)).items():
            field = field.decode() if isinstance(field, bytes) else field
            target, _, metric = field.rpartition("\t")
            row = per_target.setdefault(target, {m: 0 for m in METRICS})
            row[metric] = float(value) if metric == "latency_ms_sum" else int(value)
        for target, row in sorted(per_target.items()):
            answered = row["requests"] - row["errors"] - row["cancelled"]
            row["mean_latency_ms"] = row["latency_ms_sum"] / answered if answered > 0 else None
            rows.append({"deployment": name, "target": target, **row})
    return rows
