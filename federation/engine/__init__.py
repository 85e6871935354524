"""Pure ML work of federations: composing adapters, gating, staged pipelines, timed generation, the model cache."""
