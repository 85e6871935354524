"""The serving loop an inference worker runs (`manage.py serve_models`): pop a batch, generate once, reply.

Composed models come from the inference worker's process-wide cache (federation.inference_worker), so a
deployment's model is built once and kept; a federation's new version is a new target key and a new model.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections import defaultdict

from django.db import close_old_connections

from federation import inference_worker
from federation.engine.types import ADDITIVE, GenerationParams, MemberSpec
from federation.serving import broker
from federation.serving.engine.batch import BatchItem, generate_batch, render_chat, sampling_key
from rmnconsole.core.heartbeat import worker_id

logger = logging.getLogger(__name__)
CANCEL_POLL_SECONDS = 0.05  # how often a generating batch asks whether its callers are still there


def load_target(target: dict):
    """The ComposedModel for a target: a federation (its cached composed model) or one adapter merged on its base."""
    from federation.models import Federation
    from federation.services import base_model_path
    from training.models import Adapter

    if target["kind"] == "federation":
        federation = Federation.objects.select_related("base_model").get(pk=target["id"])
        if federation.version != target["version"]:
            raise LookupError(f"federation {federation.name} changed while the request waited; send it again")
        composed, _lookup = inference_worker.composed_for(federation)
        return composed
    from federation.engine import runtime

    adapter = Adapter.objects.select_related("base_model").get(pk=target["id"])
    spec = runtime.merged_adapter_spec(
        base_model_path(adapter.base_model),
        MemberSpec(label=adapter.label, path=adapter.abs_path(), weight=1.0, role=adapter.adapter_type),
    )

    inference_worker.honour_clear_requests()
    lookup = inference_worker.model_cache().get_or_load(("adapter", adapter.pk), lambda: runtime.build(spec))
    if not lookup.hit:
        inference_worker.publish_state()
    return lookup.value


def render(tokenizer, request: dict) -> str:
    if request["kind"] == "chat":
        return render_chat(tokenizer, request["messages"])
    return request["prompt"]


def _item(request: dict, prompt: str) -> BatchItem:
    on_delta = None
    if request.get("stream"):
        request_id = request["id"]

        def on_delta(text: str, request_id=request_id) -> None:
            broker.reply(request_id, {"delta": text})

    return BatchItem(
        prompt=prompt,
        max_tokens=int(request["max_tokens"]),
        temperature=float(request["temperature"]),
        top_p=float(request["top_p"]),
        seed=request.get("seed"),
        stop=tuple(request.get("stop") or ()),
        on_delta=on_delta,
    )


def _fail(requests: list[dict], message: str, status: int = 500) -> None:
    for request in requests:
        broker.reply(
            request["id"],
            {"error": {"message": message, "type": "server_error", "code": None}, "status": status},
        )


def _answer_cancelled(requests: list[dict]) -> None:
    # Nobody reads it (the caller is gone); it records that the request ended, for anyone tracing it.
    for request in requests:
        broker.reply(
            request["id"],
            {
                "done": True,
                "text": "",
                "finish_reason": "cancelled",
                "prompt_tokens": 0,
                "completion_tokens": 0,
            },
        )


def cancel_check(request_ids: list[str], every_s: float = CANCEL_POLL_SECONDS):
    """`cancelled()` for generate_batch: the rows whose callers hung up, asking Redis at most every `every_s`."""
    state = {"at": 0.0, "rows": set()}

    def cancelled() -> set[int]:
        now = time.monotonic()
        if now - state["at"] >= every_s:
            state["at"] = now
            gone = broker.cancelled(request_ids)
            state["rows"] = {i for i, request_id in enumerate(request_ids) if request_id in gone}
        return state["rows"]

    return cancelled


def run_batch(target_key: str, requests: list[dict], *, batching: bool = True) -> None:
    """Answer every request of one target: one generate() per group of compatible sampling settings."""
    now = time.time()
    live = [r for r in requests if r.get("expires_at", now + 1) > now]
    gone = broker.cancelled([r["id"] for r in live])
    if gone:
        _answer_cancelled([r for r in live if r["id"] in gone])
        live = [r for r in live if r["id"] not in gone]
    if not live:
        return
    target = live[0]["target"]
    try:
        composed = load_target(target)
    except Exception as exc:  # the model cannot be built: every waiting caller hears why, none hangs
        logger.exception("could not load serving target %s", target_key)
        _fail(live, f"The model for {target.get('label', target_key)} could not be loaded: {exc}")
        return
    tokenizer = composed.tokenizer
    if composed.spec.method != ADDITIVE:
        # Gated and sequential compositions run their own generation (routing / stages): one request at a time.
        for request in live:
            _run_single(composed, request)
        return
    groups: dict[tuple, list[tuple[dict, BatchItem]]] = defaultdict(list)
    for request in live:
        try:
            prompt = render(tokenizer, request)
        except Exception as exc:
            _fail([request], f"The messages do not fit the model's chat template: {exc}", 400)
            continue
        groups[sampling_key(_item(request, prompt))].append((request, _item(request, prompt)))
    for members in groups.values():
        chunks = [members] if batching else [[m] for m in members]
        for chunk in chunks:
            broker.count_batch(len(chunk))
            started = time.perf_counter()
            try:
                outputs = generate_batch(
                    composed.model,
                    tokenizer,
                    [item for _, item in chunk],
                    cancelled=cancel_check([r["id"] for r, _ in chunk]),
                )
            except Exception as exc:
                logger.exception("generation failed for %s", target_key)
                _fail([r for r, _ in chunk], f"Generation failed: {exc}")
                continue
            elapsed_ms = (time.perf_counter() - started) * 1000.0
            for (request, _), output in zip(chunk, outputs, strict=True):
                broker.reply(
                    request["id"],
                    {
                        "done": True,
                        "text": output.text,
                        "finish_reason": output.finish_reason,
                        "prompt_tokens": output.prompt_tokens,
                        "completion_tokens": output.completion_tokens,
                        "batch_size": len(chunk),
                        "generate_ms": elapsed_ms,
                    },
                )


def _run_single(composed, request: dict) -> None:
    prompt = request["messages"][-1]["content"] if request["kind"] == "chat" else request["prompt"]
    params = GenerationParams(
        max_new_tokens=int(request["max_tokens"]),
        temperature=float(request["temperature"]),
        top_p=float(request["top_p"]),
        seed=int(request.get("seed") or 0),
    )
    try:
        result = composed.run(prompt, params)
    except Exception as exc:
        _fail([request], f"Generation failed: {exc}")
        return
    if request.get("stream") and result.response:
        broker.reply(request["id"], {"delta": result.response})
    broker.reply(
        request["id"],
        {
            "done": True,
            "text": result.response,
            "finish_reason": "length" if result.generated_tokens >= int(request["max_tokens"]) else "stop",
            "prompt_tokens": result.prompt_tokens,
            "completion_tokens": result.generated_tokens,
            "batch_size": 1,
        },
    )


class ServingLoop:
    def __init__(
        self, *, max_batch: int, wait_ms: float, batching: bool = True, name: str | None = None
    ) -> None:
        self.max_batch = max(1, max_batch)
        self.wait_ms = max(0.0, wait_ms)
        self.batching = batching
        self.name = name or f"serve-{worker_id()}"
        self.stopping = False
        self.served = 0

    def stop(self, *_args) -> None:
        self.stopping = True

    def beat(self) -> None:
        broker.heartbeat(
            self.name, {"max_batch": self.max_batch, "wait_ms": self.wait_ms, "served": self.served}
        )

    def _beat_forever(self) -> None:
        # A thread: a first model load or a long batch must not make the worker look dead to the web side.
        while not self.stopping:
            try:
                self.beat()
            except Exception:
                logger.warning("serving heartbeat failed", exc_info=True)
            time.sleep(1.0)

    def _once(self) -> int:
        """One batch: how many requests it answered (0 when none came within a second)."""
        targets = broker.watched_targets()
        if not targets:
            time.sleep(0.2)
            return 0
        taken = broker.take_batch(
            sorted(targets), self.max_batch if self.batching else 1, self.wait_ms if self.batching else 0
        )
        if taken is None:
            return 0
        close_old_connections()
        key, requests = taken
        run_batch(key, requests, batching=self.batching)
        return len(requests)

    def run(self, *, max_batches: int | None = None) -> None:
        signal.signal(signal.SIGTERM, self.stop)
        signal.signal(signal.SIGINT, self.stop)
        self.beat()
        threading.Thread(target=self._beat_forever, name="serving-heartbeat", daemon=True).start()
        batches = 0
        try:
            while not self.stopping and (max_batches is None or batches < max_batches):
                try:
                    served = self._once()
                except Exception:  # Redis or the database blinked: log, wait, go on (never die on one batch)
                    logger.exception("serving loop iteration failed")
                    time.sleep(1.0)
                    continue
                if served:
                    self.served += served
                    batches += 1
        finally:
            broker.forget_worker(self.name)
