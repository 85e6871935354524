"""Spell-check what a user reads: the visible text of every template and every form label, help text and choice.

A word the English list (pyspellchecker) does not know must be on the product's own list below; "Learning rankate"
(a text replacement gone wrong) is the kind of slip this catches."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

import pytest
from django import forms
from spellchecker import SpellChecker

TEMPLATES = Path(__file__).resolve().parents[2] / "templates"

# The product's words: names, units, acronyms and ML terms a general English list does not hold.
_PRODUCT_WORDS_TEXT = """
    lora qlora sft dpo rmis jsonl csv parquet json rq nvml gpu gpus cpu vram cuda nf bitsandbytes peft trl hf
    duckdb htmx api admin async utc iso epoch ms gib mib kb mb gb tokens/s ttft rmn walmart amazon retailer
    retailers adapters adapter dataset datasets federations federation federated svd ties dare cat lr p50 p95 ci
    alpha beta seed mistral llama gguf safetensors tokenizer tokenizers sku skus gtin gtins enum enums upload
    uploads uploaded config configs checkpoint checkpoints todo eval evals webhook workflow harmonize harmonized
    harmonizing dedupe subnav roas ctr cpc cpm timestamp timestamps metadata runtime dropdown prometheus grafana
    unmapped plausibility validator overfit overfitting hyperparameter hyperparameters whitespace onsite offsite
    backend filesystem cli multi subtractive nondeterministic zipped unzip jaccard lsh sha diff iab mrc bool dst
    int strptime params tok ddp dtype proj checkpointing init torchrun dequantized dequantize quantization pypi
    ollama cpp gguf vllm lorax
    leaderboard versioned unparseable prev rdp cron
    """
PRODUCT_WORDS = frozenset(_PRODUCT_WORDS_TEXT.split())

SKIP_TAGS = {"script", "style", "code", "pre", "svg"}


class _Text(HTMLParser):
    def __init__(self):
        super().__init__()
        self.skip = 0
        self.chunks: list[str] = []

    def handle_starttag(self, tag, attrs):
        if tag in SKIP_TAGS:
            self.skip += 1
        for name, value in attrs:
            if name in ("title", "aria-label", "placeholder", "alt") and value:
                self.chunks.append(value)

    def handle_endtag(self, tag):
        if tag in SKIP_TAGS and self.skip:
            self.skip -= 1

    def handle_data(self, data):
        if not self.skip:
            self.chunks.append(data)


def _visible_text(source: str) -> str:
    source = re.sub(r"\{#.*?#\}|\{%.*?%\}|\{\{.*?\}\}", " ", source, flags=re.S)
    parser = _Text()
    parser.feed(source)
    return " ".join(parser.chunks)


def _words(text: str) -> set[str]:
    out = set()
    for token in re.findall(r"[A-Za-z][A-Za-z'’]*[A-Za-z]|[A-Za-z]", text):
        # Identifiers (camelCase, adType) and single letters are not prose.
        if len(token) < 3 or re.search(r"[a-z][A-Z]", token):
            continue
        out.add(re.sub(r"['’]s$", "", token.lower()))
    return out


_SPELL = SpellChecker()  # loading the word list takes seconds: once per session


def _unknown(words: set[str]) -> set[str]:
    spell = _SPELL
    return {w for w in spell.unknown(words) if w not in PRODUCT_WORDS and w.rstrip("s") not in PRODUCT_WORDS}


def _form_texts() -> dict[str, str]:
    from datasets_app.library import forms as library_forms
    from datasets_app.mappings import forms as mapping_forms
    from federation import forms as federation_forms
    from training import forms as training_forms

    texts = {}
    for module in (training_forms, federation_forms, library_forms, mapping_forms):
        for name, cls in vars(module).items():
            if (
                not (isinstance(cls, type) and issubclass(cls, forms.BaseForm))
                or cls.__module__ != module.__name__
            ):
                continue
            form = cls()
            for field_name, field in form.fields.items():
                parts = [str(field.label or field_name.replace("_", " ")), str(field.help_text or "")]
                parts += [str(label) for _, label in getattr(field, "choices", []) if isinstance(label, str)]
                texts[f"{cls.__name__}.{field_name}"] = " ".join(parts)
    return texts


def test_template_text_is_spelled_right():
    problems = {}
    for path in sorted(TEMPLATES.rglob("*.html")):
        unknown = _unknown(_words(_visible_text(path.read_text(encoding="utf-8"))))
        if unknown:
            problems[str(path.relative_to(TEMPLATES))] = sorted(unknown)
    assert not problems, problems


@pytest.mark.django_db
def test_form_labels_are_spelled_right():
    problems = {}
    for where, text in _form_texts().items():
        unknown = _unknown(_words(text))
        if unknown:
            problems[where] = sorted(unknown)
    assert not problems, problems


def test_the_check_catches_the_slip_it_was_written_for():
    assert _unknown(_words("Learning rankate · Warmup rankatio")) == {"rankate", "rankatio"}


# Glyphs the fonts the README installs do not draw (they showed as empty boxes); components/icon.html draws these.
MISSING_GLYPHS = "⧉＋"


def test_no_template_uses_a_glyph_the_installed_fonts_lack():
    found = {
        str(path.relative_to(TEMPLATES)): sorted(
            {c for c in path.read_text(encoding="utf-8") if c in MISSING_GLYPHS}
        )
        for path in TEMPLATES.rglob("*.html")
        if path.name != "icon.html"
    }
    assert not {k: v for k, v in found.items() if v}
