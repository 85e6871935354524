"""A job enqueued through the real Redis is run by a real `manage.py rqworker` process."""

import pytest

from rmnconsole.core.queues import DEFAULT, enqueue
from training.models import FoundationModel

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def test_real_worker_runs_an_enqueued_job(rq_worker, tiny_models):
    model = FoundationModel.objects.create(
        name="tiny-llama", family="llama", source=str(tiny_models["tiny-llama"])
    )
    assert not model.is_available
    job = enqueue(DEFAULT, "training.model_registry.refresh_base_models")
    result = rq_worker.run_burst(DEFAULT)
    assert result.returncode == 0, result.stderr[-2000:]
    model.refresh_from_db()
    assert model.is_available and model.local_path == str(tiny_models["tiny-llama"])
    job.refresh()
    assert job.get_status().value == "finished"
    assert job.return_value()["models"] == {"tiny-llama": True}
