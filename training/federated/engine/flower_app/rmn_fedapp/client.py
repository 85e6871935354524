"""ClientApp entry point (the code is the console's training.federated.engine.client_app)."""

from training.federated.engine.client_app import app

__all__ = ["app"]
