"""AutoML sweeps: an Optuna study whose trials are ordinary training jobs, run across the worker pool."""
