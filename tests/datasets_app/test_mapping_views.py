"""Mapping and data-browser pages: the HTMX editor (add / edit / delete rules, inline errors, live preview), detail,
validation badges, activation, diff, build dataset, the browser's filters, stats, harmonized preview and exports."""

from __future__ import annotations

import io

import pyarrow.parquet as pq
import pytest
from django.urls import reverse

from datasets_app.mappings import demo as sample_data
from datasets_app.mappings import services as svc
from datasets_app.models import DataSource, SchemaMapping

pytestmark = pytest.mark.django_db
HX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def demo():
    sample_data.seed_demo(rows=400)
    return {
        "alpha": SchemaMapping.objects.get(name="alpha_events_to_rmis"),
        "beta1": SchemaMapping.objects.get(name="beta_events_to_rmis", version=1),
        "beta2": SchemaMapping.objects.get(name="beta_events_to_rmis", version=2),
        "source": DataSource.objects.get(name="Retailer Alpha Events"),
    }


def url(name, **kwargs):
    return reverse(f"datasets_app:{name}", kwargs=kwargs)


def test_list_and_detail_show_status_badges(client_logged_in, demo):
    page = client_logged_in.get(url("mapping_list")).content.decode()
    assert "alpha_events_to_rmis" in page and "✅ Active" in page and "⚠️ Draft" in page
    assert "✅ valid" in page and "⚠️ warnings" in page
    detail = client_logged_in.get(url("mapping_detail", mapping_id=demo["alpha"].pk)).content.decode()
    assert (
        "Source (retailer)" in detail
        and "─── enum_map ───&gt;" in detail
        and "─── /1000000 ───&gt;" in detail
    )
    assert "─── to_utc ───&gt;" in detail and "─── none ───&gt;" in detail
    assert "Edit (new draft)" in detail and "Build training dataset" in detail
    beta = client_logged_in.get(url("mapping_detail", mapping_id=demo["beta1"].pk)).content.decode()
    assert 'data-check="unmapped_enum"' in beta and "NATIVE" in beta


def test_create_mapping_form(client_logged_in, demo):
    r = client_logged_in.post(url("mapping_list"), {"name": "alpha_new", "retailer": "retailer_alpha",
                                                    "source": demo["source"].pk, "target": "rmis.ad_event@2"})  # fmt: skip
    created = SchemaMapping.objects.get(name="alpha_new")
    assert r.status_code == 302 and r["Location"] == url("mapping_edit", mapping_id=created.pk)
    assert (created.target_version, created.status, created.rules) == (2, "draft", [])
    bad = client_logged_in.post(url("mapping_list"), {"name": "", "retailer": "bad slug!", "source": demo["source"].pk,
                                                      "target": "rmis.ad_event@9"})  # fmt: skip
    assert bad.status_code == 200 and b"errorlist" in bad.content


def test_editor_add_edit_delete_rules_with_live_preview(client_logged_in, demo):
    draft = svc.edit_mapping(demo["alpha"])
    page = client_logged_in.get(url("mapping_edit", mapping_id=draft.pk)).content.decode()
    assert 'id="rules-table"' in page and 'hx-trigger="load, mapping-changed from:body"' in page
    assert '<option value="cost_micros"' in page  # source fields come from the real columns
    # delete the cost rule
    index = next(i for i, r in enumerate(draft.rules) if r["target"] == "cost")
    r = client_logged_in.post(url("mapping_rule_delete", mapping_id=draft.pk, index=index), **HX)
    assert r.status_code == 200 and r["HX-Trigger"] == "mapping-changed"
    draft.refresh_from_db()
    assert "cost" not in {x["target"] for x in draft.rules}
    preview = client_logged_in.get(url("mapping_preview", mapping_id=draft.pk), **HX).content.decode()
    assert "Required, not mapped" in preview and "<code>cost</code>" in preview
    # add it back with ×0.000001 instead of /1000000 — same numbers
    r = client_logged_in.post(url("mapping_rule_add", mapping_id=draft.pk),
                              {"source": "cost_micros", "target": "cost", "transform": "scale", "operation": "multiply",
                               "factor": "0.000001"}, **HX)  # fmt: skip
    assert r.status_code == 200 and r["HX-Trigger"] == "mapping-changed"
    draft.refresh_from_db()
    rule = next(x for x in draft.rules if x["target"] == "cost")
    assert rule["transform"] == {"type": "scale", "operation": "multiply", "factor": 0.000001}
    preview = client_logged_in.get(url("mapping_preview", mapping_id=draft.pk), **HX).content.decode()
    assert (
        'data-rows="20"' in preview
        and "Required, not mapped" not in preview
        and 'data-column="cost"' in preview
    )
    # edit the enum rule: open the row, then save it with a changed pair list and case-insensitive matching
    index = next(i for i, x in enumerate(draft.rules) if x["target"] == "placement_type")
    row = client_logged_in.get(
        url("mapping_rule_edit", mapping_id=draft.pk, index=index), **HX
    ).content.decode()
    assert (
        f'id="rule-{index}" class="rule-form-row' in row and 'name="pair_source" value="onsite_disp"' in row
    )
    r = client_logged_in.post(url("mapping_rule_save", mapping_id=draft.pk, index=index),
                              {"source": "adType", "target": "placement_type", "transform": "enum_map", "unmapped": "null",
                               "case_insensitive": "on", "pair_source": ["SP", "sd", "onsite_disp", ""],
                               "pair_target": ["sponsored_product", "sponsored_display", "onsite_display", ""]}, **HX)  # fmt: skip
    assert r.status_code == 200 and r["HX-Trigger"] == "mapping-changed"
    draft.refresh_from_db()
    transform = draft.rules[index]["transform"]
    assert transform["case_insensitive"] is True and [p["source"] for p in transform["pairs"]] == [
        "SP",
        "sd",
        "onsite_disp",
    ]


def test_editor_shows_errors_inline_and_does_not_save(client_logged_in, demo):
    draft = demo["beta2"]
    before = list(draft.rules)
    r = client_logged_in.post(url("mapping_rule_add", mapping_id=draft.pk),
                              {"source": "spend", "target": "cost", "transform": "scale", "factor": "-2"}, **HX)  # fmt: skip
    body = r.content.decode()
    assert r.status_code == 200 and "HX-Trigger" not in r
    assert 'id="rule-errors-new"' in body and "greater than 0" in body
    assert 'value="-2"' in body  # the user's input is kept for correction
    r = client_logged_in.post(url("mapping_rule_add", mapping_id=draft.pk),
                              {"source": "banner", "target": "placement_type", "transform": "constant", "value": "tv"}, **HX)  # fmt: skip
    body = r.content.decode()
    # Every problem of the rule is listed at once: the target is taken, and "tv" is no RMIS placement type.
    assert "already mapped by rule" in body and "not an allowed placement_type" in body
    r = client_logged_in.post(url("mapping_rule_add", mapping_id=draft.pk),
                              {"source": "banner", "target": "placement_type", "transform": "constant", "value": "sponsored_product"}, **HX)  # fmt: skip
    body = r.content.decode()
    assert "already mapped by rule" in body and "not an allowed placement_type" not in body
    draft.refresh_from_db()
    assert draft.rules == before


def test_editor_refuses_active_versions(client_logged_in, demo):
    alpha = demo["alpha"]
    page = client_logged_in.get(url("mapping_edit", mapping_id=alpha.pk))
    assert page.status_code == 200 and b"immutable" in page.content and b"Edit in a new draft" in page.content
    r = client_logged_in.post(url("mapping_rule_delete", mapping_id=alpha.pk, index=0), **HX)
    assert r.status_code == 409
    alpha.refresh_from_db()
    assert alpha.status == "active" and len(alpha.rules) == 15
    r = client_logged_in.post(url("mapping_new_draft", mapping_id=alpha.pk))
    draft = SchemaMapping.objects.get(parent=alpha)
    assert r["Location"] == url("mapping_edit", mapping_id=draft.pk)


def test_transform_params_and_enum_values_partials(client_logged_in, demo):
    draft = demo["beta2"]
    params = client_logged_in.get(
        url("mapping_rule_params", mapping_id=draft.pk),
        {"transform": "enum_map", "target": "placement_type", "row": "new"},
        **HX,
    ).content.decode()
    assert params.count('class="pair-row"') == 1  # no pairs yet: only the template row
    assert 'id="pair-template-new"' in params and '<option value="sponsored_brand"' in params
    to_utc = client_logged_in.get(
        url("mapping_rule_params", mapping_id=draft.pk), {"transform": "to_utc", "row": "3"}, **HX
    )
    assert b'name="timezone"' in to_utc.content and b'id="zones-3"' in to_utc.content
    values = client_logged_in.get(url("mapping_enum_values", mapping_id=draft.pk),
                                  {"source": "placement", "target": "placement_type", "pair_source": ["SPONSORED_PRODUCTS"]}, **HX)  # fmt: skip
    body = values.content.decode()
    assert 'value="DISPLAY_ONSITE"' in body and 'value="SPONSORED_PRODUCTS"' not in body


def test_validate_activate_diff_and_build(client_logged_in, demo):
    beta2 = demo["beta2"]
    r = client_logged_in.post(url("mapping_validate", mapping_id=beta2.pk), **HX)
    assert r.status_code == 200 and "✅ valid" in r.content.decode()
    diff = client_logged_in.get(
        url("mapping_diff", mapping_id=beta2.pk), {"a": demo["beta1"].pk, "b": beta2.pk}
    ).content.decode()
    assert "NATIVE → onsite_display" in diff and 'data-target="placement_type"' in diff
    r = client_logged_in.post(
        url("mapping_build", mapping_id=beta2.pk), {"examples": 25, "name": "beta_v2_sft", "seed": 0}
    )
    assert r.status_code == 302
    from datasets_app.models import Dataset

    assert Dataset.objects.get(name="beta_v2_sft").num_examples == 25
    r = client_logged_in.post(url("mapping_activate", mapping_id=beta2.pk))
    assert r.status_code == 302
    beta2.refresh_from_db()
    demo["beta1"].refresh_from_db()
    assert (beta2.status, demo["beta1"].status) == ("active", "deprecated")


def test_source_list_and_register_refuses_escapes(client_logged_in, demo):
    page = client_logged_in.get(url("source_list")).content.decode()
    for name in (
        "Retailer Alpha Events",
        "Retailer Beta Events",
        "SKU Catalog",
        "Uplift Priors",
        "Performance Metrics",
    ):
        assert name in page
    r = client_logged_in.post(url("source_list"), {"path": "../../etc/passwd", "name": "evil", "kind": "other",
                                                   "time_format": "iso", "time_zone": "UTC"})  # fmt: skip
    assert r.status_code == 200 and "outside" in r.content.decode()
    assert not DataSource.objects.filter(name="evil").exists()


def test_browser_page_filters_sort_and_pages(client_logged_in, demo):
    src = demo["source"].pk
    page = client_logged_in.get(url("source_browse", source_id=src)).content.decode()
    assert (
        'name="date_from"' in page
        and '<option value="alpha_mx"' in page
        and '<option value="onsite_disp"' in page
    )
    r = client_logged_in.get(url("source_browse", source_id=src),
                             {"partial": "results", "retailer": "alpha_us", "type": "sp", "fcol": "clicks", "fop": "ge",
                              "fval": "2", "sort": "cost_micros", "desc": "1", "page_size": "25"}, **HX)  # fmt: skip
    body = r.content.decode()
    assert "<html" not in body and 'id="browser-table"' in body and "▼" in body
    assert 'data-action="next"' in body and "page=2" in body
    bad = client_logged_in.get(
        url("source_browse", source_id=src), {"partial": "results", "sort": "x;DROP"}, **HX
    )
    assert "unknown column" in bad.content.decode()


def test_browser_stats_harmonized_and_export(client_logged_in, demo):
    src, alpha = demo["source"].pk, demo["alpha"].pk
    stats = client_logged_in.get(url("source_stats", source_id=src), {"type": "sd"}, **HX).content.decode()
    assert 'id="stats-table"' in stats and 'data-column="cost_micros"' in stats
    harmonized = client_logged_in.get(
        url("source_harmonized", source_id=src), {"mapping_id": alpha, "type": "sd"}, **HX
    )
    body = harmonized.content.decode()
    assert "sponsored_display" in body and "sponsored_product" not in body
    export = client_logged_in.get(
        url("source_export", source_id=src), {"format": "parquet", "mapping_id": alpha, "type": "sd"}
    )
    table = pq.read_table(io.BytesIO(b"".join(export.streaming_content)))
    assert set(table.column("placement_type").to_pylist()) == {"sponsored_display"}
    wrong = client_logged_in.get(
        url("source_export", source_id=src), {"format": "parquet", "mapping_id": demo["beta2"].pk}
    )
    assert wrong.status_code == 404


def test_rmis_page(client_logged_in):
    page = client_logged_in.get(url("rmis_schema")).content.decode()
    assert "rmis.ad_event" in page and 'data-field="placement_type"' in page and "sponsored_display" in page
    assert "new_to_brand_sales" in page  # v2


def test_editor_validation_panel_goes_stale_after_a_change(client_logged_in, demo):
    draft = demo["beta2"]
    page = client_logged_in.get(url("mapping_edit", mapping_id=draft.pk)).content.decode()
    assert 'hx-trigger="mapping-changed from:body"' in page and "✅ valid" in page
    index = next(i for i, r in enumerate(draft.rules) if r["target"] == "attributed_units")
    client_logged_in.post(url("mapping_rule_delete", mapping_id=draft.pk, index=index), **HX)
    panel = client_logged_in.get(url("mapping_validation_panel", mapping_id=draft.pk), **HX).content.decode()
    assert "Not validated yet" in panel and 'data-action="validate"' in panel
    fresh = client_logged_in.post(url("mapping_validate", mapping_id=draft.pk), **HX).content.decode()
    assert "✅ valid" in fresh and f"{400} source rows checked" in fresh
