"""Federated training across retailer silos on Flower's Deployment Runtime: only LoRA weights travel."""
