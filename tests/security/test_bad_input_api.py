"""Bad input on every API endpoint: a clear 4xx with a JSON "detail", and nothing written (rows and files unchanged)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from tests.security.world import RULES, World, diff, sft_lines, snapshot, write_jsonl

pytestmark = pytest.mark.django_db
NOTSET = object()
INJECT_COL = "adType\" FROM read_csv('/etc/passwd'); --"
MEMBER = {"adapter": "world_retailer"}


def outside_file(world: World) -> Path:
    """A readable file outside the data root (what a traversal would reach)."""
    target = world.root.parent / "secret.jsonl"
    write_jsonl(target, [{"messages": [{"role": "user", "content": "secret"}]}])
    return target


def link_in(folder: str, name: str):
    def setup(world: World) -> None:
        (world.root / folder).mkdir(parents=True, exist_ok=True)
        (world.root / folder / name).symlink_to(outside_file(world))

    return setup


def file_in(folder: str, name: str, content: bytes):
    def setup(world: World) -> None:
        (world.root / folder).mkdir(parents=True, exist_ok=True)
        (world.root / folder / name).write_bytes(content)

    return setup


def job_body(world: World) -> dict:
    """A valid training request (every case changes one thing in it)."""
    return {"adapter_type": "retailer", "adapter_name": "bad_input", "base_model": world.base.name,
            "dataset": world.dataset.pk, "quality_override": True, "config": {"max_steps": 2}}  # fmt: skip


@dataclass
class Case:
    id: str
    method: str
    path: str
    json: Any = NOTSET
    raw: bytes | None = None
    upload: tuple[str, bytes] | None = None
    status: tuple[int, ...] = (400,)
    detail: str = ""  # a piece of the message that says what is wrong
    setup: Any = None
    staff: bool = False
    settings: dict = field(default_factory=dict)


BAD_JSONL = b'{"messages": [{"role": "user", "content": "ok"}]}\nthis is not json\nneither {is this\n'
NOT_UTF8 = b'{"messages": [{"role": "user", "content": "caf\xe9 \xff\xfe"}]}\n'
ZIP_SLIP = (
    b"PK\x03\x04\x14\x00\x00\x00\x00\x00\x00\x00!\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00"
    b"\x0e\x00\x00\x00../../evil.txt"
)

CASES = [
    # --- datasets ---------------------------------------------------------------------------------------
    Case(
        "dataset-register-dotdot",
        "post",
        "/api/datasets/register",
        {"path": "../../secret.jsonl"},
        setup=outside_file,
        detail="outside",
    ),
    Case(
        "dataset-register-absolute",
        "post",
        "/api/datasets/register",
        {"path": "/etc/passwd"},
        detail="outside",
    ),
    Case(
        "dataset-register-symlink",
        "post",
        "/api/datasets/register",
        {"path": "datasets/link.jsonl"},
        setup=link_in("datasets", "link.jsonl"),
        detail="outside",
    ),
    Case("dataset-register-wrong-type", "post", "/api/datasets/register", {"path": 17}, status=(422,)),
    Case(
        "dataset-register-invalid-jsonl",
        "post",
        "/api/datasets/register",
        {"path": "datasets/bad.jsonl"},
        setup=file_in("datasets", "bad.jsonl", BAD_JSONL),
        detail="Line 2",
    ),
    Case(
        "dataset-register-not-utf8",
        "post",
        "/api/datasets/register",
        {"path": "datasets/latin.jsonl"},
        setup=file_in("datasets", "latin.jsonl", NOT_UTF8),
        detail="UTF-8",
    ),
    Case(
        "dataset-register-unknown-type",
        "post",
        "/api/datasets/register",
        {"path": "datasets/world.jsonl", "dataset_type": "evil"},
        status=(422,),
    ),
    Case(
        "dataset-register-oversize-body",
        "post",
        "/api/datasets/register",
        raw=json.dumps({"path": "x" * (3 * 1024 * 1024)}).encode(),
        status=(413,),
        detail="larger than",
    ),
    Case(
        "dataset-upload-oversize",
        "post",
        "/api/datasets",
        upload=("big.jsonl", b"{}\n" * 400_000),
        status=(413,),
        settings={"RMN_MAX_UPLOAD_MB": 1},
        detail="upload limit",
    ),
    Case(
        "dataset-upload-invalid-jsonl",
        "post",
        "/api/datasets",
        upload=("bad.jsonl", BAD_JSONL),
        detail="Line 2",
    ),
    Case(
        "dataset-upload-not-utf8", "post", "/api/datasets", upload=("latin.jsonl", NOT_UTF8), detail="UTF-8"
    ),
    Case("dataset-upload-zip", "post", "/api/datasets", upload=("slip.zip", ZIP_SLIP), detail=".jsonl"),
    Case("dataset-upload-zip-renamed", "post", "/api/datasets", upload=("slip.jsonl", ZIP_SLIP)),
    Case("dataset-upload-empty", "post", "/api/datasets", upload=("empty.jsonl", b""), detail="empty"),
    Case("dataset-unknown-id", "get", "/api/datasets/987654", status=(404,)),
    Case("dataset-id-not-a-number", "get", "/api/datasets/abc", status=(422,)),
    Case("dataset-id-huge", "get", "/api/datasets/99999999999999999999999", status=(404, 422)),
    Case("dataset-list-bad-sort", "get", "/api/datasets?sort=name;DROP TABLE x", status=(422,)),
    Case(
        "dataset-validate-negative-len",
        "post",
        "/api/datasets/{dataset}/validate",
        {"max_seq_len": -1},
        status=(422,),
    ),
    Case(
        "dataset-validate-len-string",
        "post",
        "/api/datasets/{dataset}/validate",
        {"max_seq_len": "9"},
        status=(422,),
    ),
    Case(
        "dataset-validate-unknown-model",
        "post",
        "/api/datasets/{dataset}/validate",
        {"base_model": "../../etc", "max_seq_len": 8},
        detail="Unknown base model",
    ),
    Case("dataset-export-bad-format", "get", "/api/datasets/{dataset}/export?format=exe", status=(422,)),
    Case("dataset-delete-unknown", "delete", "/api/datasets/987654", status=(404,), staff=True),
    # --- data sources -----------------------------------------------------------------------------------
    Case(
        "source-dotdot",
        "post",
        "/api/sources",
        {"path": "../datasets/world.jsonl", "name": "s"},
        setup=lambda w: w.dataset,
        detail="outside",
    ),
    Case("source-absolute", "post", "/api/sources", {"path": "/etc/passwd", "name": "s"}, detail="outside"),
    Case(
        "source-symlink",
        "post",
        "/api/sources",
        {"path": "sources/link.csv", "name": "s"},
        setup=link_in("sources", "link.csv"),
        detail="outside",
    ),
    Case(
        "source-bad-timezone",
        "post",
        "/api/sources",
        {"path": "sources/world.csv", "name": "s2", "time_zone": "Mars/Olympus_Mons"},
        setup=lambda w: w.source,
        detail="Mars",
    ),
    Case(
        "source-unknown-column",
        "post",
        "/api/sources",
        {"path": "sources/world.csv", "name": "s2", "time_column": INJECT_COL},
        setup=lambda w: w.source,
    ),
    Case(
        "source-retailer-pattern",
        "post",
        "/api/sources",
        {"path": "sources/world.csv", "name": "s2", "retailer": "x'; DROP TABLE datasets_app_datasource; --"},
        status=(422,),
    ),
    Case("source-unknown-id", "get", "/api/sources/987654", status=(404,)),
    Case(
        "rows-filter-injection",
        "get",
        "/api/sources/{source}/rows?filters=" + json.dumps([{"column": INJECT_COL, "op": "eq", "value": 1}]),
        detail="unknown column",
    ),
    Case("rows-filter-not-json", "get", "/api/sources/{source}/rows?filters=[{oops", detail="JSON"),
    Case(
        "rows-filter-bad-op",
        "get",
        "/api/sources/{source}/rows?filters="
        + json.dumps([{"column": "adType", "op": "; DROP", "value": 1}]),
    ),
    Case(
        "rows-sort-injection", "get", "/api/sources/{source}/rows?sort=adType; DROP TABLE x", detail="column"
    ),
    Case("rows-page-zero", "get", "/api/sources/{source}/rows?page=0", status=(422,)),
    Case("rows-page-size-huge", "get", "/api/sources/{source}/rows?page_size=100000", status=(422,)),
    Case("rows-bad-date", "get", "/api/sources/{source}/rows?date_from=yesterday", status=(422,)),
    Case(
        "rows-dates-reversed",
        "get",
        "/api/sources/{source}/rows?date_from=2024-03-05&date_to=2024-03-01",
        detail="after",
    ),
    Case(
        "stats-filter-injection",
        "get",
        "/api/sources/{source}/stats?filters=" + json.dumps([{"column": INJECT_COL, "op": "eq", "value": 1}]),
    ),
    Case("export-bad-format", "get", "/api/sources/{source}/export?format=exe", status=(422,)),
    Case(
        "export-filter-injection",
        "get",
        "/api/sources/{source}/export?filters="
        + json.dumps([{"column": INJECT_COL, "op": "eq", "value": 1}]),
    ),
    # --- mappings ---------------------------------------------------------------------------------------
    Case(
        "mapping-rule-injection",
        "post",
        "/api/mappings",
        lambda w: {
            "name": "inj",
            "retailer": "world",
            "source_id": w.source.pk,
            "rules": [{"source": INJECT_COL, "target": "campaign_id", "transform": {"type": "none"}}],
        },
        detail="column",
    ),
    Case(
        "mapping-retailer-injection",
        "post",
        "/api/mappings",
        lambda w: {"name": "inj", "retailer": "x'; DROP TABLE t; --", "source_id": w.source.pk},
        status=(422,),
    ),
    Case(
        "mapping-unknown-source",
        "post",
        "/api/mappings",
        {"name": "m", "retailer": "world", "source_id": 987654},
        status=(404,),
    ),
    Case(
        "mapping-source-id-string",
        "post",
        "/api/mappings",
        {"name": "m", "retailer": "world", "source_id": "1"},
        status=(422,),
    ),
    Case(
        "mapping-unknown-target-schema",
        "post",
        "/api/mappings",
        lambda w: {"name": "m", "retailer": "world", "source_id": w.source.pk, "target_schema": "../../etc"},
    ),
    Case(
        "mapping-too-many-rules", "put", "/api/mappings/{mapping}", {"rules": [RULES[1]] * 201}, status=(422,)
    ),
    Case("mapping-notes-oversize", "put", "/api/mappings/{mapping}", {"notes": "n" * 5001}, status=(422,)),
    Case(
        "mapping-scale-by-zero",
        "put",
        "/api/mappings/{mapping}",
        {
            "rules": [
                {
                    "source": "cost_micros",
                    "target": "cost",
                    "transform": {"type": "scale", "operation": "divide", "factor": 0},
                }
            ]
        },
        status=(400, 422),
    ),
    Case(
        "mapping-enum-injection",
        "put",
        "/api/mappings/{mapping}",
        {
            "rules": [
                {
                    "source": "adType",
                    "target": "placement_type",
                    "transform": {
                        "type": "enum_map",
                        "unmapped": "null",
                        "pairs": [{"source": "sp", "target": "x'); DROP TABLE t; --"}],
                    },
                }
            ]
        },
    ),
    Case(
        "mapping-update-active", "put", "/api/mappings/{active_mapping}", {"notes": "changed"}, status=(409,)
    ),
    Case("mapping-unknown-id", "get", "/api/mappings/987654", status=(404,)),
    Case("mapping-diff-unknown", "get", "/api/mappings/{mapping}/diff/987654", status=(404,)),
    Case(
        "mapping-build-zero", "post", "/api/mappings/{mapping}/build-dataset", {"examples": 0}, status=(422,)
    ),
    Case(
        "mapping-build-huge",
        "post",
        "/api/mappings/{mapping}/build-dataset",
        {"examples": 10**9},
        status=(422,),
    ),
    Case(
        "mapping-preview-limit", "post", "/api/mappings/{mapping}/preview", {"limit": 100000}, status=(422,)
    ),
    # The preview is a dry run for the live editor: its problems are its answer (200 with "errors"), like a form's.
    Case(
        "mapping-preview-filter-injection",
        "post",
        "/api/mappings/{mapping}/preview",
        {"filters": [{"column": INJECT_COL, "op": "eq", "value": 1}]},
        status=(200,),
        detail="unknown column",
    ),
    Case(
        "mapping-preview-rule-injection",
        "post",
        "/api/mappings/{mapping}/preview",
        {"rules": [{"source": INJECT_COL, "target": "campaign_id", "transform": {"type": "none"}}]},
        status=(200,),
        detail="column",
    ),
    Case("mapping-delete-active", "delete", "/api/mappings/{active_mapping}", status=(409,), staff=True),
    # --- federation -------------------------------------------------------------------------------------
    Case(
        "federation-empty-name",
        "post",
        "/api/federations",
        {"name": " ", "base_model": "tiny-llama", "members": [MEMBER]},
        setup=lambda w: w.adapter,
        detail="name",
    ),
    Case(
        "federation-unknown-base",
        "post",
        "/api/federations",
        {"name": "f", "base_model": "../../models/x", "members": [MEMBER]},
        setup=lambda w: w.adapter,
        status=(404,),
    ),
    Case(
        "federation-unknown-adapter",
        "post",
        "/api/federations",
        {"name": "f", "base_model": "tiny-llama", "members": [{"adapter": "nope'--"}]},
        setup=lambda w: w.base,
        status=(404,),
    ),
    Case(
        "federation-weight-huge",
        "post",
        "/api/federations",
        {"name": "f", "base_model": "tiny-llama", "members": [{**MEMBER, "weight": 1e9}]},
        setup=lambda w: w.adapter,
        detail="Weight",
    ),
    Case(
        "federation-weight-string",
        "post",
        "/api/federations",
        {"name": "f", "base_model": "tiny-llama", "members": [{**MEMBER, "weight": "1"}]},
        status=(422,),
    ),
    Case(
        "federation-weight-nan",
        "post",
        "/api/federations",
        raw=b'{"name": "f", "base_model": "tiny-llama", "members": [{"adapter": "world_retailer", "weight": NaN}]}',
        setup=lambda w: w.adapter,
        status=(400, 422),
    ),
    Case(
        "federation-bad-method",
        "post",
        "/api/federations",
        {"name": "f", "base_model": "tiny-llama", "method": "eval", "members": [MEMBER]},
        status=(422,),
    ),
    Case(
        "federation-template-placeholder",
        "post",
        "/api/federations",
        {
            "name": "f",
            "base_model": "tiny-llama",
            "method": "sequential",
            "members": [{**MEMBER, "prompt_template": "{input.__class__}"}],
        },
        setup=lambda w: w.adapter,
        detail="placeholder",
    ),
    Case(
        "federation-gate-path-dotdot",
        "post",
        "/api/federations",
        {
            "name": "f",
            "base_model": "tiny-llama",
            "method": "gated",
            "members": [MEMBER, {"adapter": "world_retailer", "version": 1}],
            "options": {"gate_dataset_path": "../../secret.jsonl"},
        },
        setup=lambda w: w.adapter,
    ),
    Case("federation-unknown-id", "get", "/api/federations/987654", status=(404,)),
    Case("federation-id-overflow", "get", "/api/federations/9223372036854775808", status=(404, 422)),
    Case(
        "federation-import-not-config",
        "post",
        "/api/federations/import",
        {"format": "zip", "members": []},
        detail="Not a federation config",
    ),
    Case("federation-import-list-body", "post", "/api/federations/import", [1, 2], status=(422,)),
    Case("federation-import-zip-body", "post", "/api/federations/import", raw=ZIP_SLIP, status=(400, 422)),
    Case(
        "federation-import-bad-members",
        "post",
        "/api/federations/import",
        {"format": "rmn-federation", "format_version": 1, "members": "../../x"},
        detail="members",
    ),
    Case(
        "infer-empty-prompt", "post", "/api/federations/{federation}/infer", {"prompt": "  "}, detail="prompt"
    ),
    Case(
        "infer-prompt-oversize",
        "post",
        "/api/federations/{federation}/infer",
        {"prompt": "p" * 9000},
        detail="longer",
    ),
    Case(
        "infer-tokens-huge",
        "post",
        "/api/federations/{federation}/infer",
        {"prompt": "hi", "max_new_tokens": 10**6},
        detail="Max new tokens",
    ),
    Case(
        "infer-temperature-negative",
        "post",
        "/api/federations/{federation}/infer",
        {"prompt": "hi", "temperature": -1},
        detail="Temperature",
    ),
    Case(
        "infer-prompt-not-string",
        "post",
        "/api/federations/{federation}/infer",
        {"prompt": ["x"]},
        status=(422,),
    ),
    Case(
        "infer-unknown-federation", "post", "/api/federations/987654/infer", {"prompt": "hi"}, status=(404,)
    ),
    Case("inference-unknown-run", "get", "/api/inference/987654", status=(404,)),
    Case("inference-run-zero", "get", "/api/inference/0", status=(404, 422)),
    Case(
        "abtest-unknown-federation",
        "post",
        "/api/abtests",
        {"federation_a": 987654, "federation_b": 987655},
        status=(404,),
    ),
    Case(
        "abtest-dataset-dotdot",
        "post",
        "/api/abtests",
        lambda w: {
            "federation_a": w.federation.pk,
            "federation_b": w.federation.pk,
            "dataset_path": "../../secret.jsonl",
        },
        setup=outside_file,
    ),
    Case(
        "abtest-limit-negative",
        "post",
        "/api/abtests",
        lambda w: {
            "federation_a": w.federation.pk,
            "federation_b": w.federation.pk,
            "prompts_text": "hi",
            "limit": -1,
        },
    ),
    Case("abtest-unknown-id", "get", "/api/abtests/987654", status=(404,)),
    Case("gate-train-not-gated", "post", "/api/federations/{federation}/gate/train", status=(400, 409)),
    # --- training ---------------------------------------------------------------------------------------
    Case(
        "train-negative-rank",
        "post",
        "/api/training/jobs",
        lambda w: {**job_body(w), "config": {"lora_r": -1}},
        detail="lora_r",
    ),
    Case(
        "train-rate-string",
        "post",
        "/api/training/jobs",
        lambda w: {**job_body(w), "config": {"learning_rate": "fast"}},
        detail="learning_rate",
    ),
    Case(
        "train-steps-huge",
        "post",
        "/api/training/jobs",
        lambda w: {**job_body(w), "config": {"max_steps": 10**12}},
        detail="max_steps",
    ),
    Case(
        "train-unknown-setting",
        "post",
        "/api/training/jobs",
        lambda w: {**job_body(w), "config": {"trust_remote_code": True}},
        detail="unknown setting",
    ),
    Case(
        "train-name-traversal",
        "post",
        "/api/training/jobs",
        lambda w: {**job_body(w), "adapter_name": "../../x"},
        detail="slug",
    ),
    Case(
        "train-bad-type",
        "post",
        "/api/training/jobs",
        lambda w: {**job_body(w), "adapter_type": "root"},
        status=(422,),
    ),
    Case(
        "train-unknown-base",
        "post",
        "/api/training/jobs",
        lambda w: {**job_body(w), "base_model": "../models"},
        detail="base model",
    ),
    Case(
        "train-unknown-dataset",
        "post",
        "/api/training/jobs",
        lambda w: {**job_body(w), "dataset": 987654},
        detail="dataset",
    ),
    Case(
        "train-dataset-dotdot",
        "post",
        "/api/training/jobs",
        lambda w: {**job_body(w), "dataset": None, "dataset_path": "../secret.jsonl"},
        setup=outside_file,
        detail="outside",
    ),
    Case(
        "train-dataset-absolute",
        "post",
        "/api/training/jobs",
        lambda w: {**job_body(w), "dataset": None, "dataset_path": "/etc/passwd"},
        detail="outside",
    ),
    Case(
        "train-dataset-symlink",
        "post",
        "/api/training/jobs",
        lambda w: {**job_body(w), "dataset": None, "dataset_path": "datasets/link.jsonl"},
        setup=link_in("datasets", "link.jsonl"),
    ),
    Case(
        "train-dataset-invalid-jsonl",
        "post",
        "/api/training/jobs",
        lambda w: {**job_body(w), "dataset": None, "dataset_path": "datasets/bad.jsonl"},
        setup=file_in("datasets", "bad.jsonl", BAD_JSONL),
        detail="line 2",
    ),
    Case(
        "train-dataset-not-utf8",
        "post",
        "/api/training/jobs",
        lambda w: {**job_body(w), "dataset": None, "dataset_path": "datasets/latin.jsonl"},
        setup=file_in("datasets", "latin.jsonl", NOT_UTF8),
        detail="UTF-8",
    ),
    Case("jobs-limit-zero", "get", "/api/training/jobs?limit=0", status=(422,)),
    Case("jobs-offset-beyond-bigint", "get", "/api/training/jobs?offset=11120826759533250560", status=(422,)),
    Case("jobs-bad-status", "get", "/api/training/jobs?status=running' OR 1=1", detail="Unknown status"),
    Case("jobs-bad-sort", "get", "/api/training/jobs?sort=id;DROP TABLE x", detail="Unknown sort"),
    Case("job-unknown", "get", "/api/training/jobs/987654", status=(404,)),
    Case("job-metrics-after-text", "get", "/api/training/jobs/{job}/metrics?after=last", status=(422,)),
    Case("job-cancel-finished", "post", "/api/training/jobs/{job}/cancel", status=(409,), staff=True),
    Case("job-resume-completed", "post", "/api/training/jobs/{job}/resume", status=(409,), staff=True),
    Case("job-cancel-unknown", "post", "/api/training/jobs/987654/cancel", status=(404,)),
    Case("adapter-unknown", "get", "/api/adapters/987654", status=(404,)),
    Case("adapter-download-unknown", "get", "/api/adapters/987654/download", status=(404,)),
    Case("adapter-delete-unknown", "delete", "/api/adapters/987654", status=(404,), staff=True),
    Case(
        "adapters-repeated-param",
        "get",
        "/api/adapters?base_model=a&base_model=b",
        status=(422,),
        detail="more than once",
    ),
    Case("adapters-bad-type", "get", "/api/adapters?adapter_type=root", status=(422,)),
    # --- monitoring -------------------------------------------------------------------------------------
    Case("samples-bad-since", "get", "/api/monitoring/samples?since=forever", detail="since"),
    Case("samples-negative-gpu", "get", "/api/monitoring/samples?gpu=-1", status=(422,)),
    Case("samples-host-oversize", "get", "/api/monitoring/samples?host=" + "h" * 300, status=(422,)),
    Case("alerts-limit-zero", "get", "/api/monitoring/alerts?limit=0", status=(422,)),
    Case("alerts-bad-state", "get", "/api/monitoring/alerts?state=everything", status=(422,)),
    Case("alert-ack-unknown", "post", "/api/monitoring/alerts/987654/ack", status=(404,)),
    Case("alert-ack-zero", "post", "/api/monitoring/alerts/0/ack", status=(422,)),
]


def resolve_path(path: str, world: World) -> str:
    """Fill "{dataset}"-style ids in the path part (the query may hold JSON with its own braces)."""
    route, sep, query = path.partition("?")
    return route.format_map(world.ids()) + sep + query


def _send(client, case: Case, world: World, headers: dict):
    path = resolve_path(case.path, world)
    if case.upload is not None:
        name, content = case.upload
        return client.post(path, {"file": SimpleUploadedFile(name, content)}, **headers)
    body = case.json(world) if callable(case.json) else case.json
    if case.raw is not None:
        return client.generic(case.method.upper(), path, case.raw, content_type="application/json", **headers)
    if body is NOTSET:
        return getattr(client, case.method)(path, **headers)
    return getattr(client, case.method)(
        path, data=json.dumps(body), content_type="application/json", **headers
    )


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_api_bad_input_is_refused_and_writes_nothing(case, client, world, settings, user, staff_user):
    from rmnconsole.models import ApiToken

    for key, value in case.settings.items():
        setattr(settings, key, value)
    if case.setup:
        case.setup(world)
    # Objects the path or body refer to exist before the "before" picture is taken.
    if "{" in case.path.split("?")[0]:
        resolve_path(case.path, world)
    if callable(case.json):
        case.json(world)
    _, raw = ApiToken.issue(staff_user if case.staff else user, name="bad-input")
    before = snapshot(world.root)
    response = _send(client, case, world, {"HTTP_AUTHORIZATION": f"Bearer {raw}"})
    after = snapshot(world.root)
    assert response.status_code in case.status, (response.status_code, response.content[:500])
    assert response["Content-Type"].startswith("application/json"), response.content[:300]
    if response.status_code == 200:  # a dry run reports problems as data (see the preview cases)
        assert response.json()["rows"] == [] and response.json()["errors"], response.json()
        detail = "; ".join(e["msg"] for e in response.json()["errors"])
    else:
        detail = response.json().get("detail")
    assert isinstance(detail, str) and detail.strip(), response.json()
    assert case.detail.lower() in detail.lower(), detail
    assert diff(before, after) == [], detail


def test_upload_file_name_cannot_escape_the_datasets_folder(client, api_headers, world):
    """A valid upload named ../../x.jsonl is stored inside datasets/ under a safe name, never beside the data root."""
    content = "".join(json.dumps(r) + "\n" for r in sft_lines())
    upload = SimpleUploadedFile("../../../escaped.jsonl", content.encode())
    response = client.post("/api/datasets", {"file": upload, "name": "escaped"}, **api_headers)
    assert response.status_code == 201, response.content
    stored = (world.root / response.json()["path"]).resolve()
    assert stored.parent == (world.root / "datasets").resolve()
    assert not (world.root.parent / "escaped.jsonl").exists()
    assert not list(world.root.parent.parent.glob("escaped*"))


def test_filter_values_are_bound_not_spliced(client, api_headers, world):
    """SQL in a filter value is data: it matches nothing instead of widening the query."""
    for value in ("sp' OR '1'='1", "sp'; DROP TABLE t; --", "%"):
        filters = json.dumps([{"column": "adType", "op": "eq", "value": value}])
        response = client.get(f"/api/sources/{world.source.pk}/rows", {"filters": filters}, **api_headers)
        assert response.status_code == 200, response.content
        assert response.json()["total"] == 0, value
    filters = json.dumps([{"column": "adType", "op": "contains", "value": "%"}])
    response = client.get(f"/api/sources/{world.source.pk}/rows", {"filters": filters}, **api_headers)
    assert response.status_code == 200 and response.json()["total"] == 0
    everything = client.get(f"/api/sources/{world.source.pk}/rows", **api_headers).json()
    assert everything["total"] == 3
