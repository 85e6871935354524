"""The /api/training and /api/adapters endpoints: auth, validation errors as JSON, and the shapes the UI relies on."""

import io
import zipfile

import pytest

from training.models import TrainingJob

pytestmark = pytest.mark.django_db


def test_the_api_needs_credentials(client):
    assert client.get("/api/training/jobs").status_code == 401
    assert client.get("/api/adapters").status_code == 401


def test_create_list_detail_and_metrics(
    client, api_headers, tiny_llama, write_dataset, rows, django_capture_on_commit_callbacks
):
    write_dataset("amazon_v3.jsonl", rows.prompt_completion(8))
    body = {
        "adapter_type": "retailer",
        "adapter_name": "amazon_v3",
        "dataset_path": "datasets/amazon_v3.jsonl",
        "config": {"lora_r": 16, "lora_alpha": 32, "batch_size": 4, "learning_rate": 0.0002},
    }
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post("/api/training/jobs", body, content_type="application/json", **api_headers)
    assert response.status_code == 201, response.content
    job = response.json()
    assert job["status"] == "queued" and job["base_model"] == "tiny-llama" and job["config"]["lora_r"] == 16

    listed = client.get("/api/training/jobs?status=active&adapter_type=retailer", **api_headers).json()
    assert [j["id"] for j in listed] == [job["id"]]
    assert client.get("/api/training/jobs?status=completed", **api_headers).json() == []
    detail = client.get(f"/api/training/jobs/{job['id']}", **api_headers).json()
    assert detail["log"] == "" and detail["can_resume"] is False
    metrics = client.get(f"/api/training/jobs/{job['id']}/metrics?after=0", **api_headers).json()
    assert metrics == {
        "job_id": job["id"],
        "status": "queued",
        "finished": False,
        "current_step": 0,
        "total_steps": 0,
        "points": [],
    }


@pytest.mark.parametrize(
    ("body", "status", "words"),
    [
        ({"adapter_type": "retailer", "adapter_name": "x", "dataset_path": "/etc/passwd"}, 400, "outside"),
        (
            {
                "adapter_type": "retailer",
                "adapter_name": "x",
                "dataset_path": "datasets/d.jsonl",
                "config": {"lora_r": "abc"},
            },
            400,
            "lora_r",
        ),
        (
            {
                "adapter_type": "retailer",
                "adapter_name": "x",
                "dataset_path": "datasets/d.jsonl",
                "training_type": "dpo",
            },
            400,
            "does not fit DPO",
        ),
        ({"adapter_type": "brand", "adapter_name": "x"}, 422, "adapter_type"),
        ({"adapter_name": "x"}, 422, "adapter_type"),
    ],
)
def test_bad_jobs_get_a_json_error(client, api_headers, tiny_llama, write_dataset, rows, body, status, words):
    write_dataset("d.jsonl", rows.messages(4))
    response = client.post("/api/training/jobs", body, content_type="application/json", **api_headers)
    assert response.status_code == status
    assert words in response.json()["detail"]
    assert not TrainingJob.objects.exists()


def test_unknown_ids_are_404(client, api_headers):
    for url in (
        "/api/training/jobs/999",
        "/api/training/jobs/999/metrics",
        "/api/adapters/999",
        "/api/adapters/999/download",
    ):
        response = client.get(url, **api_headers)
        assert response.status_code == 404 and "does not exist" in response.json()["detail"]
    assert client.post("/api/training/jobs/999/cancel", **api_headers).status_code == 404


def test_metrics_after_a_step_return_only_newer_points(client, api_headers, finished_job):
    job, _ = finished_job
    body = client.get(f"/api/training/jobs/{job.pk}/metrics?after=1", **api_headers).json()
    assert body["finished"] is True
    assert [(p["step"], p["loss"], p["eval_loss"]) for p in body["points"]] == [
        (2, 1.7, None),
        (3, 1.5, 1.25),
    ]


def test_adapters_list_detail_and_zip(client, api_headers, finished_job):
    job, adapter = finished_job
    listed = client.get("/api/adapters?adapter_type=retailer&name=amazon", **api_headers).json()
    assert [a["label"] for a in listed] == ["amazon_schema_v2 v1"]
    assert client.get("/api/adapters?adapter_type=task", **api_headers).json() == []
    detail = client.get(f"/api/adapters/{adapter.pk}", **api_headers).json()
    assert (
        detail["source_job"] == job.pk
        and detail["rank"] == 4
        and "# amazon_schema_v2 v1" in detail["model_card"]
    )
    response = client.get(f"/api/adapters/{adapter.pk}/download", **api_headers)
    assert response.status_code == 200 and "amazon_schema_v2-v1.zip" in response["Content-Disposition"]
    names = zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content))).namelist()
    assert sorted(names) == [
        "amazon_schema_v2-v1/README.md",
        "amazon_schema_v2-v1/adapter_config.json",
        "amazon_schema_v2-v1/adapter_model.safetensors",
    ]


def test_the_config_table_is_published(client, api_headers):
    params = {p["name"]: p for p in client.get("/api/training/config", **api_headers).json()}
    assert params["lora_r"]["default"] == 16 and params["lora_r"]["minimum"] == 1
    assert params["quantization"]["choices"] == ["none", "8bit", "4bit"]


def test_odd_inputs_get_4xx_not_500(client, api_headers, finished_job):
    job, _ = finished_job
    odd = [
        {"adapter_type": "retailer", "adapter_name": "x", "dataset": 99999999999999999},
        {"adapter_type": "retailer", "adapter_name": "x", "dataset_path": "a" * 5000},
        {
            "adapter_type": "retailer",
            "adapter_name": "x",
            "dataset_path": "datasets/sft/amazon.jsonl",
            "config": {"lora_r": {"a": 1}, "target_modules": [1]},
        },
        {"adapter_type": "retailer", "adapter_name": "x" * 200, "dataset_path": "datasets/sft/amazon.jsonl"},
    ]
    for body in odd:
        response = client.post("/api/training/jobs", body, content_type="application/json", **api_headers)
        assert response.status_code == 400, (body, response.content)
        assert response.json()["detail"]
    huge = client.get(f"/api/training/jobs/{job.pk}/metrics?after=99999999999999999999", **api_headers)
    assert huge.status_code in (200, 422) and huge.json()
    assert client.get("/api/training/jobs?status=bogus", **api_headers).status_code == 400
    assert client.get("/api/training/jobs?sort=-eval_loss", **api_headers).json()[0]["id"] == job.pk
