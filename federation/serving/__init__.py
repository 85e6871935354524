"""Serving: deployments (a model name with production/staging targets) answered by an OpenAI-compatible /v1."""
