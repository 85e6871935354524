"""ServerApp entry point (the code is the console's training.federated.engine.server_app)."""

from training.federated.engine.server_app import app

__all__ = ["app"]
