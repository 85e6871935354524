"""Python facade: deploy, promote, roll back, list deployments (staff actions: pass user= a staff username)."""

from __future__ import annotations

from federation.serving import services
from rmnconsole.core.users import resolve_user


def deploy(name: str, *, federation=None, adapter=None, stage: str = "production", user=None) -> dict:
    """Point `name@stage` at a federation or adapter (the deployment is created on first use)."""
    user = resolve_user(user)
    if not services.Deployment.objects.filter(name=name).exists():
        services.create_deployment(name, user, federation=federation, adapter=adapter, stage=stage)
    else:
        services.set_target(name, stage, user, federation=federation, adapter=adapter)
    return get_deployment(name)


def promote_deployment(name: str, *, source: str = "staging", to: str = "production", user=None) -> dict:
    services.promote(name, resolve_user(user), source=source, to=to)
    return get_deployment(name)


def rollback_deployment(name: str, *, stage: str = "production", user=None) -> dict:
    services.rollback(name, resolve_user(user), stage=stage)
    return get_deployment(name)


def list_deployments() -> list[dict]:
    return services.deployment_rows()


def get_deployment(name: str) -> dict:
    services.get_deployment(name)
    return next(row for row in services.deployment_rows() if row["name"] == name)


def export_deployment(name: str, format: str = "peft", *, stage: str = "production", user=None) -> str:
    """A download bundle of what name@stage serves: peft (vLLM/LoRAX), gguf (Ollama/llama.cpp) or merged."""
    from federation.serving.exports import export_deployment as build

    return str(build(name, format, resolve_user(user), stage=stage))
