"""Training: base-model registry, training jobs, metrics, checkpoints and the adapter registry."""
