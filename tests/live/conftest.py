"""Live-update fixtures: a running training job row (no worker) and a signed-in session cookie for sockets."""

from __future__ import annotations

import pytest


@pytest.fixture
def running_job(transactional_db, user):
    from training.models import FoundationModel, TrainingJob

    base = FoundationModel.objects.create(name="live-base", source="live-base", family="llama")
    return TrainingJob.objects.create(
        adapter_type="task", adapter_name="live-job", base_model=base, training_type="sft",
        status="running", total_steps=40, created_by=user,
    )  # fmt: skip


@pytest.fixture
def cookie(client, user) -> str:
    """The session id of `user` signed in (what the browser's cookie carries to the socket)."""
    client.force_login(user)
    return client.cookies["sessionid"].value
