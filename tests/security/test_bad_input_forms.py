"""Bad input on every HTML form: a 4xx, a form error or an error message that says what is wrong — and nothing written."""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from typing import Any

import pytest
from django.contrib.messages import get_messages
from django.core.files.uploadedfile import SimpleUploadedFile

from tests.security.test_bad_input_api import BAD_JSONL, INJECT_COL, NOT_UTF8, ZIP_SLIP, link_in, outside_file
from tests.security.world import World, diff, snapshot

pytestmark = pytest.mark.django_db


@dataclass
class FormCase:
    id: str
    path: str
    data: Any = field(default_factory=dict)  # a dict, or world -> dict
    says: str = ""  # what the error must say (in the page, or in the flash message after a redirect)
    method: str = "post"
    status: tuple[int, ...] = (200, 400, 409, 413, 302)
    setup: Any = None
    staff: bool = False
    settings: dict = field(default_factory=dict)


def upload(name: str, content: bytes):
    return lambda w: {"file": SimpleUploadedFile(name, content), "name": "bad"}


def federation_form(**changes):
    def data(w: World) -> dict:
        base = {"name": "f", "base_model": w.base.pk, "retailer_adapter": w.adapter.pk, "retailer_weight": 1.0,
                "task_weight": 1.0, "method": "additive", "combination": "cat", "density": 0.5, "gate_steps": 60}  # fmt: skip
        return {**base, **changes}

    return data


def train_form(w: World, **changes) -> dict:
    base = {"adapter_type": "retailer", "adapter_name": "bad_input", "base_model": w.base.pk, "training_type": "sft",
            "dataset": str(w.dataset.pk), "dataset_path": "", "quality_override": "on", "max_steps": "2"}  # fmt: skip
    return {**base, **changes}


CASES = [
    # --- dataset library ----------------------------------------------------------------------------------
    FormCase("upload-no-file", "/datasets/library/upload/", {"name": "x"}, says="Choose a .jsonl"),
    FormCase(
        "upload-oversize",
        "/datasets/library/upload/",
        upload("big.jsonl", b"{}\n" * 400_000),
        says="upload limit",
        settings={"RMN_MAX_UPLOAD_MB": 1},
    ),
    FormCase(
        "upload-not-jsonl", "/datasets/library/upload/", upload("notes.txt", b'{"a": 1}\n'), says=".jsonl"
    ),
    FormCase(
        "upload-invalid-jsonl", "/datasets/library/upload/", upload("bad.jsonl", BAD_JSONL), says="line 2"
    ),
    FormCase("upload-not-utf8", "/datasets/library/upload/", upload("latin.jsonl", NOT_UTF8), says="UTF-8"),
    FormCase("upload-zip-slip", "/datasets/library/upload/", upload("slip.zip", ZIP_SLIP), says=".jsonl"),
    FormCase(
        "register-dotdot",
        "/datasets/library/register/",
        {"path": "../../secret.jsonl"},
        says="outside",
        setup=outside_file,
    ),
    FormCase("register-absolute", "/datasets/library/register/", {"path": "/etc/passwd"}, says="outside"),
    FormCase(
        "register-symlink",
        "/datasets/library/register/",
        {"path": "datasets/link.jsonl"},
        says="outside",
        setup=link_in("datasets", "link.jsonl"),
    ),
    FormCase(
        "validate-negative-len",
        "/datasets/library/{dataset}/validate/",
        {"max_seq_len": "-5"},
        says="greater than or equal to 1",
    ),
    FormCase(
        "validate-len-text",
        "/datasets/library/{dataset}/validate/",
        {"max_seq_len": "ten"},
        says="whole number",
    ),
    FormCase(
        "delete-wrong-confirm",
        "/datasets/library/{dataset}/delete/",
        {"confirm": "other"},
        says="to confirm",
        staff=True,
    ),
    # --- data sources and mappings -----------------------------------------------------------------------
    FormCase(
        "source-dotdot",
        "/datasets/sources/",
        {
            "path": "../../secret.jsonl",
            "name": "s",
            "kind": "events",
            "time_format": "iso",
            "time_zone": "UTC",
        },
        says="outside",
        setup=outside_file,
    ),
    FormCase(
        "source-absolute",
        "/datasets/sources/",
        {"path": "/etc/passwd", "name": "s", "kind": "events", "time_format": "iso", "time_zone": "UTC"},
        says="outside",
    ),
    FormCase(
        "source-symlink",
        "/datasets/sources/",
        {"path": "sources/link.csv", "name": "s", "kind": "events", "time_format": "iso", "time_zone": "UTC"},
        says="outside",
        setup=link_in("sources", "link.csv"),
    ),
    FormCase(
        "source-bad-zone",
        "/datasets/sources/",
        lambda w: {
            "path": w.source.path,
            "name": "s2",
            "kind": "events",
            "time_format": "iso",
            "time_zone": "Mars/Base",
        },
        says="Mars",
    ),
    FormCase(
        "source-column-injection",
        "/datasets/sources/",
        lambda w: {
            "path": w.source.path,
            "name": "s2",
            "kind": "events",
            "time_format": "iso",
            "time_zone": "UTC",
            "time_column": INJECT_COL,
        },
        says="no column",
    ),
    FormCase(
        "source-kind-unknown",
        "/datasets/sources/",
        {"path": "sources/x.csv", "name": "s", "kind": "evil", "time_format": "iso", "time_zone": "UTC"},
        says="Select a valid choice",
    ),
    FormCase(
        "mapping-bad-retailer",
        "/datasets/mappings/",
        lambda w: {"name": "m", "retailer": "a b'; --", "source": w.source.pk, "target": "rmis.ad_event@1"},
        says="Enter a valid",
    ),
    FormCase(
        "mapping-unknown-source",
        "/datasets/mappings/",
        {"name": "m", "retailer": "r", "source": 987654, "target": "rmis.ad_event@1"},
        says="Select a valid choice",
    ),
    FormCase(
        "rule-source-injection",
        "/datasets/mappings/{mapping}/rules/new/save/",
        {"source": INJECT_COL, "target": "campaign_id", "transform": "none"},
        says="column",
    ),
    FormCase(
        "rule-scale-zero",
        "/datasets/mappings/{mapping}/rules/new/save/",
        {
            "source": "cost_micros",
            "target": "cost",
            "transform": "scale",
            "operation": "divide",
            "factor": "0",
        },
        says="factor",
    ),
    FormCase(
        "rule-unknown-target",
        "/datasets/mappings/{mapping}/rules/new/save/",
        {"source": "adType", "target": "'; DROP TABLE x; --", "transform": "none"},
        says="target",
    ),
    FormCase(
        "rule-edit-active",
        "/datasets/mappings/{active_mapping}/rules/new/save/",
        {"source": "adType", "target": "channel", "transform": "none"},
        says="cannot change",
        status=(409,),
    ),
    FormCase(
        "build-zero-examples",
        "/datasets/mappings/{mapping}/build-dataset/",
        {"examples": "0", "seed": "0"},
        says="greater than or equal to 1",
    ),
    FormCase(
        "browse-filter-injection",
        "/datasets/sources/{source}/",
        {"fcol": INJECT_COL, "fop": "eq", "fval": "1"},
        says="unknown column",
        method="get",
    ),
    FormCase(
        "browse-bad-date",
        "/datasets/sources/{source}/",
        {"date_from": "2024-13-45"},
        says="not a date",
        method="get",
    ),
    # --- federation ----------------------------------------------------------------------------------------
    FormCase(
        "federation-empty-name", "/federation/", federation_form(name=""), says="This field is required"
    ),
    FormCase(
        "federation-weight-text",
        "/federation/",
        federation_form(retailer_weight="lots"),
        says="Enter a number",
    ),
    FormCase("federation-weight-huge", "/federation/", federation_form(retailer_weight="1e9"), says="Weight"),
    FormCase(
        "federation-unknown-base",
        "/federation/",
        federation_form(base_model=987654),
        says="Select a valid choice",
    ),
    FormCase(
        "federation-density-range", "/federation/", federation_form(density="7"), says="less than or equal"
    ),
    FormCase(
        "infer-empty-prompt",
        "/federation/{federation}/infer/",
        {"prompt": "", "max_new_tokens": 8, "temperature": 0, "seed": 0},
        says="required",
    ),
    FormCase(
        "infer-tokens-huge",
        "/federation/{federation}/infer/",
        {"prompt": "hi", "max_new_tokens": 999999, "temperature": 0, "seed": 0},
        says="less than or equal",
    ),
    FormCase("import-not-json", "/federation/import/", {"config_text": "{not json"}, says="not valid JSON"),
    FormCase(
        "import-zip-file",
        "/federation/import/",
        lambda w: {"config_file": SimpleUploadedFile("f.zip", ZIP_SLIP)},
        says="not valid JSON",
    ),
    FormCase(
        "import-not-a-config",
        "/federation/import/",
        {"config_text": '{"format": "tar", "members": []}'},
        says="Not a federation config",
    ),
    FormCase(
        "import-oversize",
        "/federation/import/",
        lambda w: {"config_file": SimpleUploadedFile("f.json", b" " * (2 * 1024 * 1024 + 10))},
        says="larger than 2 MB",
        settings={"RMN_MAX_FEDERATION_CONFIG_MB": 2},
    ),
    FormCase(
        "import-not-utf8",
        "/federation/import/",
        lambda w: {"config_file": SimpleUploadedFile("f.json", b'{"format": "\xff\xfe"}')},
        says="not valid JSON",
    ),
    FormCase(
        "abtest-negative-limit",
        "/federation/abtests/",
        lambda w: {
            "federation_a": w.federation.pk,
            "federation_b": w.federation.pk,
            "prompts_text": "hi",
            "limit": -1,
            "max_new_tokens": 8,
            "temperature": 0,
            "seed": 0,
        },
        says="greater than or equal",
    ),
    FormCase(
        "abtest-unknown-federation",
        "/federation/abtests/",
        {
            "federation_a": 987654,
            "federation_b": 987655,
            "prompts_text": "hi",
            "limit": 5,
            "max_new_tokens": 8,
            "temperature": 0,
            "seed": 0,
        },
        says="Select a valid choice",
    ),
    # --- training ------------------------------------------------------------------------------------------
    FormCase(
        "train-negative-rank",
        "/training/new/",
        lambda w: train_form(w, lora_r="-4"),
        says="must be at least 1",
    ),
    FormCase(
        "train-rate-text",
        "/training/new/",
        lambda w: train_form(w, learning_rate="fast"),
        says="Enter a number",
    ),
    FormCase(
        "train-name-traversal",
        "/training/new/",
        lambda w: train_form(w, adapter_name="../../etc"),
        says="slug",
    ),
    FormCase(
        "train-dataset-dotdot",
        "/training/new/",
        lambda w: train_form(w, dataset="", dataset_path="../secret.jsonl"),
        says="outside",
        setup=outside_file,
    ),
    FormCase(
        "train-dataset-symlink",
        "/training/new/",
        lambda w: train_form(w, dataset="", dataset_path="datasets/link.jsonl"),
        says="outside",
        setup=link_in("datasets", "link.jsonl"),
    ),
    FormCase(
        "train-no-dataset", "/training/new/", lambda w: train_form(w, dataset=""), says="Choose a dataset"
    ),
    FormCase("train-cancel-finished", "/training/jobs/{job}/cancel/", {}, says="already", staff=True),
    FormCase(
        "train-resume-completed",
        "/training/jobs/{job}/resume/",
        {},
        says="only failed or cancelled",
        staff=True,
    ),
    # --- monitoring ----------------------------------------------------------------------------------------
    FormCase("ack-unknown-alert", "/monitoring/alerts/987654/ack/", {}, says="", status=(404, 302)),
]


def _resolve(path: str, world: World) -> str:
    return path.format_map(world.ids())


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_form_bad_input_is_refused_and_writes_nothing(case, client, world, settings, user, staff_user):
    for key, value in case.settings.items():
        setattr(settings, key, value)
    if case.setup:
        case.setup(world)
    path = _resolve(case.path, world)
    data = case.data(world) if callable(case.data) else case.data
    client.force_login(staff_user if case.staff else user)
    before = snapshot(world.root)
    response = getattr(client, case.method)(path, data)
    after = snapshot(world.root)
    assert response.status_code in case.status, (response.status_code, response.content[:400])
    if response.status_code == 302:
        said = " ".join(m.message for m in get_messages(response.wsgi_request) if m.level_tag == "error")
        assert said, f"redirected to {response['Location']} without an error message"
    else:
        said = html.unescape(response.content.decode())
        if response.status_code == 200:
            assert any(mark in said for mark in ("errorlist", "field-error", "error")), said[:500]
    assert case.says.lower() in said.lower(), said[:800]
    assert diff(before, after) == [], said[:300]


def test_ack_redirect_never_leaves_the_site(client_logged_in, world):
    response = client_logged_in.post(
        f"/monitoring/alerts/{world.alert.pk}/ack/", {"next": "https://evil.example/phish"}
    )
    assert response.status_code == 302
    assert "evil.example" not in response["Location"]
