"""RMN federated LoRA Flower App (entry points only)."""
