"""The /api/datasets endpoints: upload (with the streaming cap), register, detail, validate, export, delete, auth."""

from __future__ import annotations

import io
import json

import pyarrow.parquet as pq
import pytest
from django.test import Client

from datasets_app.library.upload import CappedUploadHandler
from datasets_app.models import Dataset
from tests.datasets_app.dataset_helpers import poor_rows, sft_rows, write_jsonl

pytestmark = pytest.mark.django_db


def jsonl_bytes(rows) -> bytes:
    return b"".join((json.dumps(r) + "\n").encode() for r in rows)


def upload(client, headers, content: bytes, filename="data.jsonl", **fields):
    return client.post("/api/datasets", {"file": _named(content, filename), **fields}, **headers)


def _named(content: bytes, filename: str):
    f = io.BytesIO(content)
    f.name = filename
    return f


def test_requires_authentication(client):
    assert client.get("/api/datasets").status_code == 401
    assert (
        client.post(
            "/api/datasets/register", {"path": "datasets/x.jsonl"}, content_type="application/json"
        ).status_code
        == 401
    )


def test_upload_validates_and_lists(client, api_headers, data_root):
    response = upload(client, api_headers, jsonl_bytes(sft_rows(20)), "amazon.jsonl", dataset_type="sft")
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["name"] == "amazon" and body["status"] == "ready" and body["format"] == "messages"
    assert body["quality_score"] == 100.0 and body["band"] == "excellent" and body["num_examples"] == 20
    assert (data_root / body["path"]).exists()
    listed = client.get("/api/datasets", **api_headers).json()
    assert [d["id"] for d in listed] == [body["id"]]
    assert client.get("/api/datasets?dataset_type=dpo", **api_headers).json() == []


@pytest.mark.parametrize(
    ("content", "filename", "status", "needle"),
    [
        (b"", "e.jsonl", 400, "empty"),
        (
            b'{"prompt": "ok", "completion": "x"}\n{"prompt": "\xe9t\xe9"}\n',
            "u.jsonl",
            400,
            "Line 2 is not valid UTF-8",
        ),
        (b"id,prompt\n1,hello\n", "t.jsonl", 400, "line 1"),
        (b'{"prompt": "a", "completion": "b"}\n', "notes.txt", 400, "Only .jsonl"),
    ],
    ids=["empty", "non-utf8", "not-jsonl", "extension"],
)
def test_bad_uploads_are_refused_with_a_clear_message(
    client, api_headers, data_root, content, filename, status, needle
):
    response = upload(client, api_headers, content, filename)
    assert response.status_code == status
    assert needle in response.json()["detail"]
    assert Dataset.objects.count() == 0
    assert not (data_root / "datasets").exists() or not list((data_root / "datasets").iterdir())


def test_upload_over_the_cap_is_refused_while_streaming(client, api_headers, data_root, settings):
    settings.RMN_MAX_UPLOAD_MB = 1
    big = jsonl_bytes(sft_rows(3000))
    assert len(big) > 1024 * 1024
    response = upload(client, api_headers, big, "big.jsonl")
    assert response.status_code == 413
    assert "larger than the 1 MB upload limit" in response.json()["detail"]
    assert Dataset.objects.count() == 0
    assert not (data_root / "datasets").exists() or not list((data_root / "datasets").iterdir())


def test_the_cap_handler_stops_at_the_chunk_that_crosses_the_limit():
    from django.core.files.uploadhandler import StopUpload

    handler = CappedUploadHandler(None, limit=100)
    handler.handle_raw_input(None, {}, 150, b"x")
    handler.new_file("file", "a.jsonl", "application/octet-stream", None)
    assert handler.receive_data_chunk(b"x" * 60, 0) == b"x" * 60  # passed on to the next handler
    with pytest.raises(StopUpload):
        handler.receive_data_chunk(b"x" * 60, 60)
    assert handler.exceeded
    declared = CappedUploadHandler(None, limit=100)
    declared.handle_raw_input(None, {}, 10_000_000, b"x")
    with pytest.raises(StopUpload):  # refused before a single byte of the file is read
        declared.new_file("file", "a.jsonl", "application/octet-stream", None)


def test_upload_with_session_and_csrf(user, data_root):
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    client.get("/datasets/")
    token = client.cookies["csrftoken"].value
    content = _named(jsonl_bytes(sft_rows(5)), "s.jsonl")
    assert client.post("/api/datasets", {"file": content}).status_code == 403  # no CSRF token
    content = _named(jsonl_bytes(sft_rows(5)), "s.jsonl")
    response = client.post("/api/datasets", {"file": content}, HTTP_X_CSRFTOKEN=token)
    assert response.status_code == 201, response.content


def test_register_detail_validate_export_delete(client, api_headers, data_root, staff_user):
    write_jsonl(data_root / "datasets" / "walmart.jsonl", poor_rows(30))
    response = client.post(
        "/api/datasets/register",
        {"path": "datasets/walmart.jsonl", "name": "walmart"},
        content_type="application/json",
        **api_headers,
    )
    assert response.status_code == 201, response.content
    ds = response.json()
    assert ds["band"] == "poor" and ds["failing_checks"][0] == "exact_duplicates"
    detail = client.get(f"/api/datasets/{ds['id']}", **api_headers).json()
    dup = detail["report"]["checks"]["exact_duplicates"]
    assert dup["count"] == 10 and dup["examples"][:3] == [31, 32, 33]
    assert detail["report"]["weights"]["json_valid"] > 0

    revalidated = client.post(
        f"/api/datasets/{ds['id']}/validate", {}, content_type="application/json", **api_headers
    )
    assert (
        revalidated.status_code == 200
        and revalidated.json()["report"]["checks"]["exact_duplicates"]["count"] == 10
    )

    exported = client.get(f"/api/datasets/{ds['id']}/export?format=parquet", **api_headers)
    assert exported.status_code == 200
    assert pq.read_table(io.BytesIO(b"".join(exported.streaming_content))).num_rows == 40
    assert client.get(f"/api/datasets/{ds['id']}/export?format=xlsx", **api_headers).status_code == 422
    original = client.get(f"/api/datasets/{ds['id']}/download", **api_headers)
    assert b"".join(original.streaming_content) == (data_root / "datasets" / "walmart.jsonl").read_bytes()

    assert client.delete(f"/api/datasets/{ds['id']}", **api_headers).status_code == 403  # not staff
    staff = Client()
    staff.force_login(staff_user)
    token = staff.get("/datasets/") and staff.cookies["csrftoken"].value
    assert staff.delete(f"/api/datasets/{ds['id']}", HTTP_X_CSRFTOKEN=token).status_code == 204
    assert client.get(f"/api/datasets/{ds['id']}", **api_headers).status_code == 404


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("../secret.jsonl", 400),
        ("/etc/passwd", 400),
        ("datasets/missing.jsonl", 400),
        ("sources/s.jsonl", 400),
    ],
)
def test_register_refuses_paths_outside_datasets(client, api_headers, data_root, path, status):
    write_jsonl(data_root / "secret.jsonl", sft_rows(2))
    write_jsonl(data_root / "sources" / "s.jsonl", sft_rows(2))
    response = client.post(
        "/api/datasets/register", {"path": path}, content_type="application/json", **api_headers
    )
    assert response.status_code == status
    assert response.json()["field"] == "path"


def test_register_twice_conflicts(client, api_headers, data_root):
    write_jsonl(data_root / "datasets" / "a.jsonl", sft_rows(3))
    first = client.post(
        "/api/datasets/register", {"path": "datasets/a.jsonl"}, content_type="application/json", **api_headers
    )
    second = client.post(
        "/api/datasets/register", {"path": "datasets/a.jsonl"}, content_type="application/json", **api_headers
    )
    assert (first.status_code, second.status_code) == (201, 409)


def test_large_files_are_validated_in_the_background(client, api_headers, data_root, settings):
    settings.RMN_DATASET_INLINE_MB = 0.001
    write_jsonl(data_root / "datasets" / "big.jsonl", sft_rows(50))
    response = client.post(
        "/api/datasets/register",
        {"path": "datasets/big.jsonl"},
        content_type="application/json",
        **api_headers,
    )
    assert response.status_code == 201
    body = response.json()
    assert body["status"] == "pending" and body["quality_score"] is None and body["progress_pct"] == 0.0
    validation = Dataset.objects.get(pk=body["id"]).validations.get()
    assert (validation.status, validation.rq_job_id) == ("queued", f"dataset-validation-{validation.pk}")


def test_openapi_documents_the_dataset_endpoints(client_logged_in):
    paths = client_logged_in.get("/api/openapi.json").json()["paths"]
    assert {"get", "post"} <= set(paths["/api/datasets"])
    assert "413" in paths["/api/datasets"]["post"]["responses"]
    for p in (
        "/api/datasets/register",
        "/api/datasets/{dataset_id}",
        "/api/datasets/{dataset_id}/validate",
        "/api/datasets/{dataset_id}/export",
    ):
        assert p in paths
    assert "delete" in paths["/api/datasets/{dataset_id}"]


def test_inputs_postgres_cannot_store_are_refused_or_made_safe(client, api_headers, data_root):
    nul_name = upload(client, api_headers, jsonl_bytes(sft_rows(3)), "x.jsonl", name="a\x00b")
    assert nul_name.status_code == 400 and nul_name.json()["field"] == "name"
    long_path = client.post(
        "/api/datasets/register",
        {"path": "datasets/" + "a" * 300 + ".jsonl"},
        content_type="application/json",
        **api_headers,
    )
    assert long_path.status_code == 400 and "Path refused" in long_path.json()["detail"]
    nul_text = b'{"prompt": "a\\u0000b", "completion": "x", "category": "c\\u0000"}\n{"prompt": "y", "completion": "z", "category": "d"}\n'
    stored = upload(client, api_headers, nul_text, "n.jsonl")
    assert stored.status_code == 201  # the report's quoted label has U+0000 replaced for jsonb
    assert (
        "c\ufffd"
        in client.get(f"/api/datasets/{stored.json()['id']}", **api_headers).json()["report"]["stats"][
            "labels"
        ]
    )
