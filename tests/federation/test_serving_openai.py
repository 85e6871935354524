"""/v1 through the official `openai` client against a live server and a real `manage.py serve_models` process.

One test drives the whole path (the worker process and the live server are its costly setup): batching, every
error status, chat/completion/streaming, promote/rollback, token scopes, delete protection.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import openai
import pytest

from federation.serving import broker, services
from rmnconsole.models import ApiToken

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

REPO = Path(__file__).resolve().parents[2]


def client(live_server, key: str) -> openai.OpenAI:
    # max_retries=0: the client would silently retry 429 and 503, the statuses under test.
    return openai.OpenAI(base_url=f"{live_server.url}/v1", api_key=key, max_retries=0, timeout=120)


def start_worker(rq_worker, *args: str):
    proc = rq_worker.start_command(
        [sys.executable, str(REPO / "manage.py"), "serve_models", "--name", "w1", *args]
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if broker.live_workers():
            return proc
        if proc.poll() is not None:
            break
        time.sleep(0.1)
    pytest.fail("serving worker did not start:\n" + Path(proc.log_path).read_text()[-3000:])


def chat(api: openai.OpenAI, model: str, prompt: str, **kwargs):
    kwargs.setdefault("max_tokens", 16)
    kwargs.setdefault("temperature", 0)
    return api.chat.completions.create(model=model, messages=[{"role": "user", "content": prompt}], **kwargs)


def test_openai_client_end_to_end(fed, live_server, rq_worker, staff_user, user, texts, tiny_models):
    from training.engine.model_files import load_tokenizer

    deployment = services.create_deployment("amazon-planning", staff_user, adapter=fed.retailer.pk)
    services.set_target(deployment, "staging", staff_user, adapter=fed.task.pk)
    services.create_deployment("other-deployment", staff_user, adapter=fed.task.pk)
    _, key = ApiToken.issue(user, name="app")
    _, scoped_key = ApiToken.issue(user, name="scoped", scope="inference", deployments=["other-deployment"])
    _, limited_key = ApiToken.issue(user, name="limited", requests_per_minute=1)
    api = client(live_server, key)

    # No worker yet: 503, and nothing is left queued.
    with pytest.raises(openai.APIStatusError) as no_worker:
        chat(api, "amazon-planning", texts.retailer_prompt)
    assert no_worker.value.status_code == 503 and "serve_models" in no_worker.value.message

    # Three requests already waiting when the worker starts are answered by ONE generate call.
    target = services.route(deployment, "production", draw=0)[0]
    waiting = [
        broker.submit(
            dict(target.as_dict(), key=target.key, version=target.version),
            {
                "kind": "completion",
                "prompt": f"Record {i}:",
                "max_tokens": 4 + i,
                "temperature": 0.0,
                "top_p": 1.0,
                "seed": None,
                "stop": [],
                "stream": False,
            },
        )
        for i in range(3)
    ]
    start_worker(rq_worker, "--max-batch", "4", "--wait-ms", "200")
    replies = [broker.next_reply(request_id, 120) for request_id in waiting]
    assert [r["batch_size"] for r in replies] == [3, 3, 3]
    assert [r["completion_tokens"] <= 4 + i for i, r in enumerate(replies)] == [True] * 3

    # /v1/models: both stages of both deployments for a full token; a scoped token sees only its deployment.
    assert sorted(m.id for m in api.models.list()) == [
        "amazon-planning",
        "amazon-planning@staging",
        "other-deployment",
    ]
    scoped = client(live_server, scoped_key)
    assert [m.id for m in scoped.models.list()] == ["other-deployment"]

    # Chat: the retailer adapter answers production, usage counted with the model's real tokenizer.
    answer = chat(api, "amazon-planning", texts.retailer_prompt, max_tokens=24, seed=3)
    tokenizer = load_tokenizer(tiny_models["tiny-llama"])
    rendered = tokenizer.apply_chat_template(
        [{"role": "user", "content": texts.retailer_prompt}], add_generation_prompt=True, tokenize=False
    )
    assert answer.object == "chat.completion" and answer.model == "amazon-planning"
    assert answer.usage.prompt_tokens == len(tokenizer(rendered, add_special_tokens=False)["input_ids"])
    assert 0 < answer.usage.completion_tokens <= 24
    production_text = answer.choices[0].message.content
    assert "retailer" in production_text, production_text

    # Streaming: chunks ending with [DONE] (the client stops there) that join to the same greedy text.
    pieces = [
        c.choices[0].delta.content or ""
        for c in chat(api, "amazon-planning", texts.retailer_prompt, max_tokens=24, stream=True)
    ]
    assert "".join(pieces) == production_text and len(pieces) > 2

    # Stop strings cut the text where they start.
    stopped = chat(api, "amazon-planning", texts.retailer_prompt, max_tokens=24, stop=["retailer"])
    assert stopped.choices[0].finish_reason == "stop"
    assert stopped.choices[0].message.content == production_text.split("retailer")[0]

    # Completions: raw prompt, no chat template.
    completion = api.completions.create(
        model="amazon-planning", prompt="RMIS record:", max_tokens=5, temperature=0
    )
    assert completion.object == "text_completion" and completion.usage.completion_tokens <= 5

    # Staging answers differently; promote makes the production name answer like staging; rollback undoes it.
    staging_text = (
        chat(api, "amazon-planning@staging", texts.retailer_prompt, max_tokens=24).choices[0].message.content
    )
    assert staging_text != production_text
    services.promote(deployment, staff_user)
    assert (
        chat(api, "amazon-planning", texts.retailer_prompt, max_tokens=24).choices[0].message.content
        == staging_text
    )
    services.rollback(deployment, staff_user)
    assert (
        chat(api, "amazon-planning", texts.retailer_prompt, max_tokens=24).choices[0].message.content
        == production_text
    )

    # Errors, each with OpenAI's status and body.
    with pytest.raises(openai.AuthenticationError):
        client(live_server, "rmn_not-a-token").models.list()
    with pytest.raises(openai.NotFoundError) as unknown:
        chat(api, "no-such-model", "hi")
    assert unknown.value.body["code"] == "model_not_found"
    with pytest.raises(openai.NotFoundError):
        chat(scoped, "amazon-planning", "hi")  # a scoped token cannot call another deployment
    assert chat(scoped, "other-deployment", "hi", max_tokens=2).usage.completion_tokens <= 2
    with pytest.raises(openai.BadRequestError) as two:
        chat(api, "amazon-planning", "hi", n=2)
    assert two.value.body["param"] == "n"
    with pytest.raises(openai.BadRequestError):
        chat(api, "amazon-planning", "hi", temperature=5)
    limited = client(live_server, limited_key)
    limited.models.list()
    with pytest.raises(openai.RateLimitError):
        limited.models.list()

    # The audit trail and the stats saw all of it.
    from federation.serving import stats
    from rmnconsole.models import AuditEvent

    assert {"deployment.promote", "deployment.rollback"} <= set(
        AuditEvent.objects.values_list("action", flat=True)
    )
    rows = {(r["deployment"], r["target"]): r for r in stats.snapshot()}
    prod = rows[("amazon-planning", fed.retailer.label)]
    assert prod["requests"] >= 5 and prod["completion_tokens"] > 0 and prod["streamed"] == 1
    assert rows[("amazon-planning", fed.retailer.label)]["errors"] == 1  # the 503 before the worker started
