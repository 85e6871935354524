"""Federation: compositions of adapters, inference runs on the cached worker, A/B comparisons."""
