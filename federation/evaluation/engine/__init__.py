"""Pure evaluation work: metrics, the judge prompt and score parsing, batched greedy generation (no Django)."""
