"""Fixtures of the security tests: a lazily built world of every app's objects and a cached LoRA folder."""

from __future__ import annotations

import pytest

from tests.security.world import World, lora_folder


@pytest.fixture(scope="session")
def world_lora(tiny_models, tmp_path_factory):
    return lora_folder(tiny_models["tiny-llama"], tmp_path_factory.mktemp("world-lora") / "lora")


@pytest.fixture
def world(data_root, user, staff_user, request) -> World:
    return World(data_root, user, staff_user, fixture=request.getfixturevalue)


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    """Every test here creates users; the production hasher's deliberate slowness is not under test."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
