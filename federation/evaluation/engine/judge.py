"""LLM-as-judge: the judge prompt built from a rubric, and the score parsed out of the judge's answer.

The judge itself is a callable (list of prompts → list of answers): an OpenAI-compatible endpoint
(`openai_judge`) or a model the console serves itself (the task builds that one from the subject cache).
"""

from __future__ import annotations

import re
from collections.abc import Callable

JUDGE_TEMPLATE = (
    "You are grading an answer. Rubric:\n{rubric}\n\n"
    "Question:\n{prompt}\n\n{reference_block}Answer to grade:\n{output}\n\n"
    "Reply with one line 'Score: N' where N is an integer from 1 (worst) to 10 (best)."
)
SCORE_MIN, SCORE_MAX = 1, 10
_SCORE = re.compile(r"score\s*[:=]\s*(\d+(?:\.\d+)?)(?:\s*/\s*(\d+))?", re.I)
_BARE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(?:/\s*(\d+))?\s*$")

Judge = Callable[[list[str]], list[str]]


class JudgeUnavailable(Exception):
    """The judge could not be asked at all (endpoint down, unknown model): the run fails with this message."""


def judge_prompt(rubric: str, prompt: str, output: str, reference: str | None) -> str:
    block = f"Reference answer:\n{reference}\n\n" if reference else ""
    return JUDGE_TEMPLATE.format(rubric=rubric, prompt=prompt, output=output, reference_block=block)


def parse_score(answer: str) -> float:
    """'Score: 7' (or '7/10', or a bare '7') → 0.667 on [0, 1]; 'N/M' is read on a 1..M scale; raises ValueError on anything else."""
    match = _SCORE.search(answer or "") or _BARE.match(answer or "")
    if not match:
        raise ValueError(f"the judge's answer has no score: {(answer or '').strip()[:80]!r}")
    value = float(match.group(1))
    top = float(match.group(2)) if match.group(2) else SCORE_MAX
    if top < 2 or not SCORE_MIN <= value <= top:
        raise ValueError(f"the judge's score {match.group(0).strip()!r} is outside {SCORE_MIN}–{int(top)}")
    return (value - SCORE_MIN) / (top - SCORE_MIN)


def openai_judge(base_url: str, model: str, api_key: str = "", timeout: float = 30.0) -> Judge:
    """An OpenAI-compatible chat endpoint as the judge (temperature 0); unreachable → JudgeUnavailable."""
    import openai

    client = openai.OpenAI(base_url=base_url, api_key=api_key or "none", timeout=timeout, max_retries=0)

    def ask(prompts: list[str]) -> list[str]:
        answers = []
        for prompt in prompts:
            try:
                reply = client.chat.completions.create(
                    model=model, messages=[{"role": "user", "content": prompt}], temperature=0, max_tokens=32
                )
            except (openai.APIConnectionError, openai.APITimeoutError) as exc:
                raise JudgeUnavailable(f"the judge endpoint {base_url} is unreachable ({exc})") from None
            except openai.APIStatusError as exc:
                raise JudgeUnavailable(
                    f"the judge endpoint {base_url} answered HTTP {exc.status_code}"
                ) from None
            except openai.OpenAIError as exc:
                raise JudgeUnavailable(
                    f"the judge endpoint {base_url} answered junk ({type(exc).__name__})"
                ) from None
            choices = getattr(reply, "choices", None) or []
            answers.append((choices[0].message.content or "") if choices else "")
        return answers

    return ask


def run_judge(judge: Judge, rubric: str, cases: list[tuple[str, str, str | None]]) -> list[dict]:
    """Each (prompt, output, reference) → {score | error, answer}; a junk answer is that case's recorded failure."""
    prompts = [judge_prompt(rubric, p, o, r) for p, o, r in cases]
    answers = judge(prompts)
    if len(answers) != len(prompts):
        raise JudgeUnavailable(f"the judge answered {len(answers)} of {len(prompts)} prompts")
    results = []
    for answer in answers:
        try:
            results.append({"score": parse_score(answer), "answer": answer[:500]})
        except ValueError as exc:
            results.append({"score": None, "error": str(exc), "answer": (answer or "")[:500]})
    return results
