"""Serving engine: batched generation over an already-composed model (no Django)."""
