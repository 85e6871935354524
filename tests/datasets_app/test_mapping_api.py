"""The /api/mappings, /api/sources and /api/rmis endpoints: shapes, status codes, filters, exports, path escapes."""

from __future__ import annotations

import csv
import io
import json
import os

import pyarrow.parquet as pq
import pytest

from datasets_app.mappings import demo as sample_data
from datasets_app.models import DataSource, SchemaMapping

pytestmark = pytest.mark.django_db
ROWS = 500


@pytest.fixture
def demo():
    sample_data.seed_demo(rows=ROWS)
    return {
        "alpha": SchemaMapping.objects.get(name="alpha_events_to_rmis"),
        "beta2": SchemaMapping.objects.get(name="beta_events_to_rmis", version=2),
        "alpha_source": DataSource.objects.get(name="Retailer Alpha Events"),
    }


def _post(client, url, body, headers, method="post"):
    return getattr(client, method)(url, data=json.dumps(body), content_type="application/json", **headers)


def test_requires_auth(client, demo):
    assert client.get("/api/mappings").status_code == 401
    assert client.get(f"/api/sources/{demo['alpha_source'].pk}/rows").status_code == 401


def test_list_get_and_rmis(client, api_headers, demo):
    listed = client.get("/api/mappings?retailer=retailer_beta", **api_headers).json()
    assert sorted((m["version"], m["status"]) for m in listed) == [(1, "active"), (2, "draft")]
    detail = client.get(f"/api/mappings/{demo['alpha'].pk}", **api_headers).json()
    assert (
        detail["status"] == "active"
        and detail["coverage"]["pct"] == 88.2
        and detail["validation"]["status"] == "ok"
    )
    assert detail["source_name"] == "Retailer Alpha Events" and [
        v["version"] for v in detail["versions"]
    ] == [1]
    schemas = client.get("/api/rmis/schemas", **api_headers).json()
    assert [(s["name"], s["version"]) for s in schemas] == [("rmis.ad_event", 1), ("rmis.ad_event", 2)]
    placement = next(f for f in schemas[0]["fields"] if f["name"] == "placement_type")
    assert placement["required"] and "sponsored_product" in placement["allowed"]
    assert client.get("/api/mappings/999999", **api_headers).status_code == 404


def test_create_update_activate_flow(client, api_headers, demo):
    body = {"name": "alpha_min", "retailer": "retailer_alpha", "source_id": demo["alpha_source"].pk,
            "rules": sample_data.ALPHA_RULES[:3]}  # fmt: skip
    created = _post(client, "/api/mappings", body, api_headers)
    assert created.status_code == 201, created.content
    m = created.json()
    assert (m["status"], m["version"]) == ("draft", 2) and m["coverage"]["missing_required"]
    updated = _post(
        client, f"/api/mappings/{m['id']}", {"rules": sample_data.ALPHA_RULES}, api_headers, "put"
    )
    assert updated.status_code == 200 and updated.json()["required_coverage_pct"] == 100.0
    activated = _post(client, f"/api/mappings/{m['id']}/activate", {}, api_headers)
    assert activated.status_code == 200 and activated.json()["status"] == "active"
    assert client.get(f"/api/mappings/{demo['alpha'].pk}", **api_headers).json()["status"] == "deprecated"
    refused = _post(client, f"/api/mappings/{m['id']}", {"notes": "changed"}, api_headers, "put")
    assert refused.status_code == 409 and "cannot change" in refused.json()["detail"]
    draft = client.post(f"/api/mappings/{m['id']}/draft", **api_headers)
    assert draft.status_code == 201 and draft.json()["version"] == 3 and draft.json()["parent_id"] == m["id"]


def test_bad_input_is_4xx_with_detail(client, api_headers, demo):
    src = demo["alpha_source"].pk
    bad_rule = {
        "name": "x",
        "retailer": "r",
        "source_id": src,
        "rules": [{"source": "nope", "target": "cost"}],
    }
    r = _post(client, "/api/mappings", bad_rule, api_headers)
    assert r.status_code == 400 and "no column 'nope'" in r.json()["detail"] and r.json()["errors"]["rules"]
    bad_type = {
        "name": "x",
        "retailer": "r",
        "source_id": src,
        "rules": [{"source": "a", "target": "cost", "transform": {"type": "exec"}}],
    }
    assert _post(client, "/api/mappings", bad_type, api_headers).status_code == 422
    assert (
        _post(
            client, "/api/mappings", {**bad_rule, "source_id": 424242, "rules": []}, api_headers
        ).status_code
        == 404
    )
    assert (
        _post(
            client, "/api/mappings", {**bad_rule, "retailer": "r'; drop", "rules": []}, api_headers
        ).status_code
        == 422
    )
    assert client.delete(f"/api/mappings/{demo['beta2'].pk}", **api_headers).status_code == 403  # staff only


def test_delete_draft_as_staff(client, staff_user, demo):
    client.force_login(staff_user)
    assert client.delete(f"/api/mappings/{demo['alpha'].pk}").status_code in (403, 409)
    response = client.delete(f"/api/mappings/{demo['beta2'].pk}")
    assert response.status_code == 204
    assert not SchemaMapping.objects.filter(pk=demo["beta2"].pk).exists()


def test_validate_preview_diff(client, api_headers, demo):
    beta1 = SchemaMapping.objects.get(name="beta_events_to_rmis", version=1)
    report = client.post(f"/api/mappings/{beta1.pk}/validate", **api_headers).json()
    assert report["status"] == "warn" and report["rows"] == ROWS
    unmapped = next(
        c for c in report["checks"] if c["check"] == "unmapped_enum" and c["target"] == "placement_type"
    )
    assert unmapped["examples"] == ["NATIVE"] and unmapped["count"] > 0
    preview = _post(client, f"/api/mappings/{demo['alpha'].pk}/preview", {"limit": 5,
                    "filters": [{"column": "adType", "op": "eq", "value": "sd"}]}, api_headers).json()  # fmt: skip
    assert len(preview["rows"]) == 5 and preview["errors"] == []
    placement = preview["columns"].index("placement_type")
    assert {r[placement] for r in preview["rows"]} == {"sponsored_display"}
    assert preview["rows"][0][preview["columns"].index("ts")].endswith("Z")
    unsaved = _post(
        client,
        f"/api/mappings/{demo['alpha'].pk}/preview",
        {"rules": [{"source": "adType", "target": "sku"}]},
        api_headers,
    )
    assert unsaved.json()["columns"] == ["sku"]
    diff = client.get(f"/api/mappings/{beta1.pk}/diff/{demo['beta2'].pk}", **api_headers).json()
    assert [d["target"] for d in diff] == ["placement_type", "channel"]


def test_build_dataset_endpoint(client, api_headers, demo, data_root):
    r = _post(
        client,
        f"/api/mappings/{demo['beta2'].pk}/build-dataset",
        {"examples": 30, "name": "beta_schema_v2"},
        api_headers,
    )
    assert r.status_code == 201, r.content
    body = r.json()
    assert body["examples"] == 30 and body["name"] == "beta_schema_v2"
    assert len((data_root / body["path"]).read_text().splitlines()) == 30
    assert (
        _post(
            client, f"/api/mappings/{demo['beta2'].pk}/build-dataset", {"examples": 0}, api_headers
        ).status_code
        == 422
    )


def test_sources_rows_filters_and_pagination(client, api_headers, demo):
    sources = client.get("/api/sources", **api_headers).json()
    assert len(sources) == 5
    src = demo["alpha_source"].pk
    base = f"/api/sources/{src}/rows"
    page = client.get(f"{base}?page_size=7&page=2&sort=impressions&desc=true", **api_headers).json()
    assert page["total"] == ROWS and page["pages"] == -(-ROWS // 7) and len(page["rows"]) == 7
    imp = page["columns"].index("impressions")
    values = [r[imp] for r in page["rows"]]
    assert values == sorted(values, reverse=True)
    filters = json.dumps([{"column": "clicks", "op": "ge", "value": 2}])
    q = client.get(
        f"{base}?date_from=2024-03-01&date_to=2024-03-20&retailer=alpha_us&type=sd&filters={filters}&page_size=500",
        **api_headers,
    )
    data = q.json()
    assert q.status_code == 200 and data["total"] == len(data["rows"])
    col = data["columns"].index
    assert all(
        r[col("retailer")] == "alpha_us" and r[col("adType")] == "sd" and r[col("clicks")] >= 2
        for r in data["rows"]
    )
    stats = client.get(f"/api/sources/{src}/stats?type=sp", **api_headers).json()
    assert {s["column"] for s in stats} >= {"adType", "cost_micros"}
    assert next(s for s in stats if s["column"] == "adType")["distinct"] == 1


@pytest.mark.parametrize(
    "query",
    [
        'filters=[{"column": "adType\\" OR 1=1 --", "op": "eq", "value": "sp"}]',
        "sort=impressions;DROP TABLE x",
        'filters=[{"column": "adType", "op": "sql", "value": "1"}]',
        "filters=not-json",
        "date_from=2024-13-01",
        'filters=[{"column": "impressions", "op": "gt", "value": "1 OR 1=1"}]',
    ],
)
def test_rows_refuse_injection(client, api_headers, demo, query):
    r = client.get(f"/api/sources/{demo['alpha_source'].pk}/rows?{query}", **api_headers)
    assert r.status_code in (400, 422) and r.json()["detail"]


def test_filter_values_are_data(client, api_headers, demo):
    filters = json.dumps([{"column": "adType", "op": "eq", "value": "sp' OR '1'='1"}])
    r = client.get(f"/api/sources/{demo['alpha_source'].pk}/rows?filters={filters}", **api_headers)
    assert r.status_code == 200 and r.json()["total"] == 0


@pytest.mark.parametrize("fmt", ["csv", "jsonl", "parquet"])
def test_export_streams_and_round_trips(client, api_headers, demo, data_root, fmt):
    src = demo["alpha_source"].pk
    url = f"/api/sources/{src}/export?format={fmt}&retailer=alpha_ca&type=sp"
    expected = client.get(
        f"/api/sources/{src}/rows?retailer=alpha_ca&type=sp&page_size=500", **api_headers
    ).json()
    response = client.get(url, **api_headers)
    assert response.status_code == 200 and response.streaming
    body = b"".join(response.streaming_content)
    assert response["Content-Disposition"] == f'attachment; filename="retailer_alpha_events.{fmt}"'
    if fmt == "parquet":
        rows = pq.read_table(io.BytesIO(body)).to_pylist()
    elif fmt == "jsonl":
        rows = [json.loads(line) for line in body.decode().splitlines()]
    else:
        rows = list(csv.DictReader(io.StringIO(body.decode())))
    assert [r["event_id"] for r in rows] == [r[0] for r in expected["rows"]]
    assert not list(
        (data_root / "exports" / ".tmp").glob("export-*")
    )  # the temporary file is gone after streaming
    harmonized = client.get(f"{url}&mapping_id={demo['alpha'].pk}", **api_headers)
    assert harmonized["Content-Disposition"].endswith(f'_rmis.{fmt}"')
    data = b"".join(harmonized.streaming_content)
    assert (
        (b"sponsored_product" in data)
        if fmt != "parquet"
        else pq.read_table(io.BytesIO(data)).num_rows == len(rows)
    )
    other = client.get(f"{url}&mapping_id={demo['beta2'].pk}", **api_headers)
    assert other.status_code == 400  # a mapping of another source
    assert client.get(f"/api/sources/{src}/export?format=xlsx", **api_headers).status_code == 422


def test_register_source_and_path_escapes(client, api_headers, data_root, tmp_path):
    folder = data_root / "sources"
    folder.mkdir(exist_ok=True)
    (folder / "mine.csv").write_text("when,shop,n\n2024-01-01,a,1\n2024-01-02,b,2\n")
    ok = _post(client, "/api/sources", {"path": "sources/mine.csv", "name": "Mine", "time_column": "when",
                                        "time_format": "date", "retailer_column": "shop"}, api_headers)  # fmt: skip
    assert ok.status_code == 201, ok.content
    assert ok.json()["row_count"] == 2 and ok.json()["path"] == "sources/mine.csv"
    secret = tmp_path / "secret.csv"
    secret.write_text("a\n1\n")
    os.symlink(secret, folder / "link.csv")
    (data_root / "datasets").mkdir(exist_ok=True)
    (data_root / "datasets" / "x.csv").write_text("a\n1\n")
    for path in (
        "../secret.csv",
        str(secret),
        "sources/../../secret.csv",
        "sources/link.csv",
        "/etc/passwd",
        "datasets/x.csv",
    ):
        r = _post(client, "/api/sources", {"path": path, "name": "evil"}, api_headers)
        assert r.status_code == 400 and r.json()["field"] == "path", path
    missing = _post(client, "/api/sources", {"path": "sources/none.csv", "name": "none"}, api_headers)
    assert missing.status_code == 400 and "not a file" in missing.json()["detail"]
    wrong_col = _post(
        client,
        "/api/sources",
        {"path": "sources/mine.csv", "name": "Mine2", "time_column": "nope"},
        api_headers,
    )
    assert wrong_col.status_code == 400 and wrong_col.json()["field"] == "time_column"
    assert DataSource.objects.count() == 1
