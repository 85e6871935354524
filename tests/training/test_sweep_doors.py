"""The four doors of sweeps (page, API, manage.py, facade) over the one service; refusals the same way."""

import json

import pytest
import yaml
from django.core.management import CommandError, call_command

from training.models import TrainingJob
from training.sweeps.models import Sweep

pytestmark = pytest.mark.django_db

SPACE = {
    "learning_rate": {"type": "log_float", "low": 1e-4, "high": 1e-2},
    "lora_r": {"type": "choice", "choices": [4, 8]},
}


@pytest.fixture
def spec(write_dataset, rows, tiny_llama):
    return {
        "adapter_type": "retailer",
        "adapter_name": "amazon_sweep",
        "base_model": "tiny-llama",
        "dataset_path": write_dataset("sft/sweep.jsonl", rows.messages(30)),
        "fixed": {"max_steps": 4, "eval_steps": 2},
        "search_space": SPACE,
        "sampler": "random",
        "seed": 3,
        "max_trials": 4,
        "max_parallel": 2,
        "pruner": "median",
    }


def _check_started(sweep: Sweep, user=None):
    assert sweep.status == "running" and sweep.max_trials == 4 and sweep.pruner == "median"
    trials = list(TrainingJob.objects.filter(sweep=sweep).order_by("sweep_trial"))
    assert [t.sweep_trial for t in trials] == [0, 1]  # max_parallel trials asked at once
    assert [t.adapter_name for t in trials] == ["amazon_sweep-t0", "amazon_sweep-t1"]
    assert all(t.status == "queued" and t.config["max_steps"] == 4 for t in trials)
    assert all(1e-4 <= t.config["learning_rate"] <= 1e-2 and t.config["lora_r"] in (4, 8) for t in trials)
    if user is not None:
        assert sweep.created_by == user and all(t.created_by == user for t in trials)


def test_api_starts_follows_and_cancels_a_sweep(client, api_headers, user, spec):
    response = client.post("/api/sweeps", json.dumps(spec), content_type="application/json", **api_headers)
    assert response.status_code == 201, response.content
    body = response.json()
    sweep = Sweep.objects.get(pk=body["id"])
    _check_started(sweep, user)
    assert body["trial_job_ids"] == list(sweep.trials.order_by("sweep_trial").values_list("pk", flat=True))
    detail = client.get(f"/api/sweeps/{sweep.pk}", **api_headers).json()
    assert [t["state"] for t in detail["summary"]["trials"]] == ["RUNNING", "RUNNING"]
    assert detail["summary"]["trials"][0]["params"]["lora_r"] in (4, 8)
    assert client.get("/api/sweeps", **api_headers).json()[0]["id"] == sweep.pk
    cancelled = client.post(f"/api/sweeps/{sweep.pk}/cancel", **api_headers)
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    assert set(TrainingJob.objects.filter(sweep=sweep).values_list("status", flat=True)) == {"cancelled"}
    again = client.post(f"/api/sweeps/{sweep.pk}/cancel", **api_headers)
    assert again.status_code == 409 and "already cancelled" in again.json()["detail"]


def test_api_refuses_bad_input_with_a_4xx_and_its_reason(client, api_headers, spec):
    bad = {**spec, "search_space": {"learning_rate": {"type": "log_float", "low": 0, "high": 0.01}}}
    response = client.post("/api/sweeps", json.dumps(bad), content_type="application/json", **api_headers)
    assert response.status_code == 400
    assert "a log range must stay above 0" in response.json()["detail"]
    assert client.post("/api/sweeps", "{}", content_type="application/json").status_code == 401
    assert not Sweep.objects.exists()


def test_page_form_starts_a_sweep_and_refuses_bad_input_with_a_banner(client_logged_in, user, spec):
    form = {
        **{k: v for k, v in spec.items() if k not in ("fixed", "search_space", "base_model")},
        "fixed": yaml.safe_dump(spec["fixed"]),
        "search_space": yaml.safe_dump(SPACE),
        "direction": "minimize",
        "training_type": "sft",
    }
    bad = client_logged_in.post("/training/sweeps/", {**form, "max_trials": 0})
    assert bad.status_code == 400
    assert b"The sweep was not started" in bad.content and b"max_trials is 0" in bad.content
    response = client_logged_in.post("/training/sweeps/", form)
    assert response.status_code == 302, response.content.decode()[-2000:]
    sweep = Sweep.objects.get()
    _check_started(sweep, user)
    page = client_logged_in.get(response["Location"])
    assert page.status_code == 200
    for chart in (b"sweep-history", b"sweep-importance", b"sweep-parallel"):
        assert b'id="' + chart + b'"' in page.content
    assert b"js/sweeps.js" in page.content and b"js/charts.js" in page.content
    assert b'id="sweep-data"' in page.content  # the chart data rides along with every polled partial
    partial = client_logged_in.get(f"/training/sweeps/{sweep.pk}/progress/")
    assert partial.status_code == 200  # running: keeps polling
    client_logged_in.post(f"/training/sweeps/{sweep.pk}/cancel/")
    TrainingJob.objects.filter(sweep=sweep).update(status="cancelled")
    assert client_logged_in.get(f"/training/sweeps/{sweep.pk}/progress/").status_code == 286


def test_sweep_around_a_finished_job_prefills_the_form(client_logged_in, finished_job):
    job, _adapter = finished_job
    page = client_logged_in.get(f"/training/jobs/{job.pk}/")
    assert f"/training/sweeps/?around={job.pk}".encode() in page.content
    form = client_logged_in.get(f"/training/sweeps/?around={job.pk}")
    assert form.status_code == 200
    html = form.content.decode()
    assert "amazon_schema_v2-sweep" in html and "around job" in html
    assert "lora_r" in html and "choices: [2, 4, 8]" in html  # rank 4 → 2, 4, 8
    assert client_logged_in.get("/training/sweeps/?around=999999").status_code == 404


def test_manage_py_sweep_starts_from_yaml_and_json_and_refuses_in_one_line(spec, tmp_path):
    yml = tmp_path / "sweep.yaml"
    yml.write_text(yaml.safe_dump(spec))
    call_command("sweep", str(yml))
    _check_started(Sweep.objects.get())
    js = tmp_path / "sweep.json"
    js.write_text(json.dumps({**spec, "adapter_name": "other", "max_trials": 0}))
    with pytest.raises(CommandError) as caught:
        call_command("sweep", str(js))
    assert str(caught.value) == "max_trials is 0: the budget must allow at least 1"
    (tmp_path / "broken.yaml").write_text("search_space: [unclosed")
    with pytest.raises(CommandError, match="is not valid YAML"):
        call_command("sweep", str(tmp_path / "broken.yaml"))
    with pytest.raises(CommandError, match="cannot read"):
        call_command("sweep", str(tmp_path / "missing.yaml"))


def test_facade_starts_reads_and_cancels(spec):
    from training import facade

    sweep_id = facade.start_sweep(spec)
    _check_started(Sweep.objects.get(pk=sweep_id))
    info = facade.get_sweep(sweep_id)
    assert info["status"] == "running" and len(info["trials"]) == 2
    assert facade.cancel_sweep(sweep_id) == "cancelled"


def test_the_wall_clock_limit_stops_asking_and_cancels_the_trials(spec):
    from datetime import timedelta

    from training.sweeps import services

    sweep = services.start_sweep({**spec, "wall_clock_minutes": 5})
    assert sweep.trials.count() == 2
    # The limit has passed (moved into the past rather than waited for): the next advance honours it.
    Sweep.objects.filter(pk=sweep.pk).update(started_at=sweep.started_at - timedelta(minutes=6))
    services.advance_sweep(sweep.pk)
    sweep.refresh_from_db()
    assert sweep.stopping == "wall-clock limit of 5 min reached"
    assert set(sweep.trials.values_list("status", flat=True)) == {"cancelled"}
    assert sweep.trials.count() == 2  # nothing more asked
    services.advance_sweep(sweep.pk)  # the cancelled trials are told; no trial completed
    sweep.refresh_from_db()
    assert (
        sweep.status == "failed"
        and "No trial completed (wall-clock limit of 5 min reached)" in sweep.status_reason
    )
    assert [t["state"] for t in services.sweep_summary(sweep)["trials"]] == ["FAIL", "FAIL"]


def test_a_grid_sweep_covers_its_grid_once(spec):
    from training.sweeps import services

    grid = {
        "lora_r": {"type": "choice", "choices": [4, 8]},
        "max_steps": {"type": "int", "low": 2, "high": 4, "step": 2},
    }
    fixed = {k: v for k, v in spec["fixed"].items() if k != "max_steps"}
    sweep = services.start_sweep(
        {**spec, "fixed": fixed, "search_space": grid, "sampler": "grid", "max_trials": 10}
    )
    assert sweep.max_trials == 4 and "max_trials lowered to the grid's 4 points" in sweep.status_reason
    for _ in range(2):  # end the asked trials as cancelled so the sweep asks the rest of the grid
        TrainingJob.objects.filter(sweep=sweep, status="queued").update(status="cancelled")
        services.advance_sweep(sweep.pk)
    points = {(j.config["lora_r"], j.config["max_steps"]) for j in TrainingJob.objects.filter(sweep=sweep)}
    assert points == {(4, 2), (4, 4), (8, 2), (8, 4)}


def test_a_sweep_whose_study_is_missing_answers_404_and_fails_with_the_reason(
    client, client_logged_in, api_headers, spec
):
    import optuna

    from training.sweeps import services
    from training.sweeps.storage import get_storage

    sweep = services.start_sweep(spec)
    optuna.delete_study(study_name=sweep.study_name, storage=get_storage())
    response = client.get(f"/api/sweeps/{sweep.pk}", **api_headers)
    assert response.status_code == 404
    assert "study" in response.json()["detail"] and "missing" in response.json()["detail"]
    assert client_logged_in.get(f"/training/sweeps/{sweep.pk}/").status_code == 404
    services.advance_sweep(sweep.pk)  # what the recovery loop and `manage.py sweep --wait` do
    sweep.refresh_from_db()
    assert sweep.status == "failed" and "is missing from the database" in sweep.status_reason
    assert set(sweep.trials.values_list("status", flat=True)) == {"cancelled"}
