"""The batched generate call: left-padded rows answer what each prompt answers alone, each with its own token
budget and stop strings; streaming deltas join to the final text."""

from __future__ import annotations

import pytest

from federation.serving.engine.batch import BatchItem, generate_batch, render_chat, sampling_key


@pytest.fixture(scope="module")
def tiny(tiny_models):
    from federation.engine.loading import load_base

    return load_base(tiny_models["tiny-llama"], "cpu")


def test_batched_rows_equal_lone_generation(tiny):
    model, tokenizer = tiny
    prompts = [
        render_chat(tokenizer, [{"role": "user", "content": text}])
        for text in (
            "Plan a budget.",
            "Map this long retailer record to the RMIS schema please, quickly.",
            "Hi",
        )
    ]
    budgets = [6, 11, 3]
    alone = [
        generate_batch(model, tokenizer, [BatchItem(p, max_tokens=n)])[0]
        for p, n in zip(prompts, budgets, strict=True)
    ]
    streamed: dict[int, list[str]] = {0: [], 1: [], 2: []}
    batched = generate_batch(
        model,
        tokenizer,
        [
            BatchItem(p, max_tokens=n, on_delta=streamed[i].append)
            for i, (p, n) in enumerate(zip(prompts, budgets, strict=True))
        ],
    )
    assert [b.text for b in batched] == [a.text for a in alone]
    assert [b.completion_tokens for b in batched] == [a.completion_tokens for a in alone]
    assert [b.prompt_tokens for b in batched] == [a.prompt_tokens for a in alone]
    assert all(b.completion_tokens <= n for b, n in zip(batched, budgets, strict=True))
    assert ["".join(streamed[i]) for i in range(3)] == [b.text for b in batched]

    # A stop string ends its row where it starts (and is not returned); the other row is untouched.
    full = alone[1].text
    assert len(full) > 4, full
    stop = full[2:4]
    cut = generate_batch(
        model,
        tokenizer,
        [BatchItem(prompts[1], max_tokens=11, stop=(stop,)), BatchItem(prompts[0], max_tokens=6)],
    )
    assert cut[0].text == full[: full.find(stop)] and cut[0].finish_reason == "stop"
    assert cut[1].text == alone[0].text


def test_mixed_sampling_settings_are_never_one_batch(tiny):
    model, tokenizer = tiny
    greedy, sampled = BatchItem("a", temperature=0), BatchItem("b", temperature=0.7, seed=1)
    assert sampling_key(greedy) != sampling_key(sampled)
    with pytest.raises(ValueError, match="sampling_key"):
        generate_batch(model, tokenizer, [greedy, sampled])
    # Same seed, same sampled answer.
    first = generate_batch(model, tokenizer, [BatchItem("Plan", max_tokens=8, temperature=0.9, seed=5)])[
        0
    ].text
    again = generate_batch(model, tokenizer, [BatchItem("Plan", max_tokens=8, temperature=0.9, seed=5)])[
        0
    ].text
    assert first == again


def test_a_row_whose_caller_hung_up_stops_there(tiny):
    model, tokenizer = tiny
    prompt = render_chat(
        tokenizer,
        [{"role": "user", "content": "Map this long retailer record to the RMIS schema please, quickly."}],
    )
    full = generate_batch(model, tokenizer, [BatchItem(prompt, max_tokens=11)])[0]
    assert full.completion_tokens > 3, full
    asked = []

    def first_row_gone_after_two_steps() -> set[int]:
        asked.append(1)
        return {0} if len(asked) >= 2 else set()

    cut, kept = generate_batch(
        model,
        tokenizer,
        [BatchItem(prompt, max_tokens=11), BatchItem(prompt, max_tokens=11)],
        cancelled=first_row_gone_after_two_steps,
    )
    assert cut.finish_reason == "cancelled" and cut.completion_tokens <= 2 < full.completion_tokens
    assert full.text.startswith(cut.text) and kept.text == full.text and kept.finish_reason != "cancelled"
    # Every caller gone: the generate call ends after the step that noticed, not at the token budget.
    both = generate_batch(model, tokenizer, [BatchItem(prompt, max_tokens=11)] * 2, cancelled=lambda: {0, 1})
    assert [o.finish_reason for o in both] == ["cancelled"] * 2
    assert all(o.completion_tokens <= 1 for o in both)
