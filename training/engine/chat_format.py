"""Chat templates for training: `{% generation %}` markers for assistant-only loss, and prompt/completion as chat turns.

trl's assistant-only loss asks the tokenizer which tokens are the assistant's (`return_assistant_tokens_mask`), and
a template answers only when it wraps assistant content in `{% generation %}` … `{% endgeneration %}`. ChatML
templates such as SmolLM2's do not: `with_generation_markers` rewrites the one ChatML turn expression so assistant
turns carry the markers, and keeps the rewrite only if the template still renders exactly the same text.
"""

from __future__ import annotations

import re
from typing import Any

GENERATION_TAG = "{% generation %}"
# `{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}`, spaces and the '\n'
# (a real newline or the two characters backslash-n) as templates write them.
_NL = r"'(?:\n|\\n)'"
_CHATML_TURN = re.compile(
    r"\{\{-?\s*'<\|im_start\|>'\s*\+\s*message\[(['\"])role\1\]\s*\+\s*"
    + _NL
    + r"\s*\+\s*message\[(['\"])content\2\]\s*\+\s*'<\|im_end\|>'\s*(?P<nl>\+\s*"
    + _NL
    + r"\s*)?-?\}\}"
)
_PROBE = [
    {"role": "system", "content": "sys"},
    {"role": "user", "content": "question"},
    {"role": "assistant", "content": "answer"},
    {"role": "user", "content": "again"},
    {"role": "assistant", "content": "second answer"},
]


def has_generation_markers(template: str | None) -> bool:
    return bool(template) and GENERATION_TAG in template.replace("{%-", "{%").replace("-%}", "%}")


def with_generation_markers(template: str | None) -> str | None:
    """`template` with assistant turns inside generation markers; None when it has none to add or cannot be patched.

    The patched template must render the probe conversation byte-identically (with and without a generation
    prompt), so the model sees exactly what it saw before; otherwise the original stays and None comes back.
    """
    if not template or has_generation_markers(template):
        return None
    match = _CHATML_TURN.search(template)
    if match is None:
        return None
    original = match.group(0)
    newline = "{{ '\\n' }}" if match.group("nl") else ""
    patched_turn = (
        "{% if message['role'] == 'assistant' %}{{ '<|im_start|>assistant\\n' }}"
        "{% generation %}{{ message['content'] + '<|im_end|>' }}{% endgeneration %}"
        + newline
        + "{% else %}"
        + original
        + "{% endif %}"
    )
    patched = template[: match.start()] + patched_turn + template[match.end() :]
    return patched if _renders_the_same(template, patched) else None


def _renders_the_same(a: str, b: str) -> bool:
    from transformers.utils.chat_template_utils import render_jinja_template

    try:
        for prompt in (False, True):
            for conversation in (_PROBE, _PROBE[1:3], _PROBE[1:2]):
                kwargs = {
                    "conversations": [conversation],
                    "chat_template": None,
                    "add_generation_prompt": prompt,
                }
                left, _ = render_jinja_template(**{**kwargs, "chat_template": a})
                right, generation = render_jinja_template(
                    **{**kwargs, "chat_template": b}, return_assistant_tokens_mask=True
                )
                if left != right or (conversation[-1]["role"] == "assistant" and not generation[0]):
                    return False
    except Exception:  # a template jinja cannot render is left alone
        return False
    return True


def ensure_generation_markers(tokenizer: Any) -> bool:
    """Patch the tokenizer's chat template in place when it lacks markers and can be patched; True when patched."""
    patched = with_generation_markers(getattr(tokenizer, "chat_template", None))
    if patched is None:
        return False
    tokenizer.chat_template = patched
    return True


def as_chat_turns(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Text prompt/completion rows as one user turn and one assistant turn.

    The console's inference wraps every prompt in the model's chat template (federation.engine.generate), so a model
    with a template is trained on the same framing it is asked in; trl then learns only the assistant turn.
    """
    return [
        {
            "prompt": [{"role": "user", "content": r["prompt"]}],
            "completion": [{"role": "assistant", "content": r["completion"]}],
        }
        for r in rows
    ]
