"""Fixtures of the fault tests: the security tests' lazily built world (objects of every app)."""

from tests.security.conftest import _fast_password_hashing, world, world_lora  # noqa: F401
