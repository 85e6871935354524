"""Rule-by-rule difference between two mapping versions, keyed by target field."""

from __future__ import annotations

from datasets_app.mappings.harmonize.rules import EnumMap, Rule


def describe_transform(rule: Rule) -> str:
    t = rule.transform
    if isinstance(t, EnumMap):
        pairs = ", ".join(f"{p.source}→{p.target}" for p in t.pairs)
        flags = f"; unmapped: {t.unmapped}" + ("; case-insensitive" if t.case_insensitive else "")
        return f"enum_map ({pairs}{flags})"
    params = t.model_dump(exclude={"type"})
    detail = ", ".join(f"{k}={v}" for k, v in params.items() if v not in (None, ""))
    return f"{t.type}" + (f" ({detail})" if detail else "")


def diff_rules(old: list[Rule], new: list[Rule]) -> list[dict]:
    """One entry per target that differs: change is 'added', 'removed' or 'changed' (with before/after text)."""
    before = {r.target: r for r in old}
    after = {r.target: r for r in new}
    order = list(dict.fromkeys([*before, *after]))
    out = []
    for target in order:
        a, b = before.get(target), after.get(target)
        if a == b:
            continue
        change = "added" if a is None else "removed" if b is None else "changed"
        out.append(
            {
                "target": target,
                "change": change,
                "before": None if a is None else {"source": a.source, "transform": describe_transform(a)},
                "after": None if b is None else {"source": b.source, "transform": describe_transform(b)},
                "pairs_added": sorted(_pairs(b) - _pairs(a)),
                "pairs_removed": sorted(_pairs(a) - _pairs(b)),
            }
        )
    return out


def _pairs(rule: Rule | None) -> set[str]:
    if rule is None or not isinstance(rule.transform, EnumMap):
        return set()
    return {f"{p.source} → {p.target}" for p in rule.transform.pairs}
