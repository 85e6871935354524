"""Pure Optuna glue for sweeps: the search-space spec, its checks, and the sampler / pruner it asks for."""
