"""Dataset library pages: library table, HTMX upload / register partials, report page, status polling, actions."""

from __future__ import annotations

import io
import json
import re

import pytest

from datasets_app.library import services
from datasets_app.models import Dataset
from tests.datasets_app.dataset_helpers import poor_rows, sft_rows, write_jsonl

pytestmark = pytest.mark.django_db
HTMX = {"HTTP_HX_REQUEST": "true"}


def _file(rows, name="page.jsonl"):
    f = io.BytesIO(b"".join((json.dumps(r) + "\n").encode() for r in rows))
    f.name = name
    return f


@pytest.fixture
def two(data_root, user):
    write_jsonl(data_root / "datasets" / "good.jsonl", sft_rows(30))
    write_jsonl(data_root / "datasets" / "bad.jsonl", poor_rows(30))
    good = services.register_dataset_file("datasets/good.jsonl", name="good", user=user)
    bad = services.register_dataset_file("datasets/bad.jsonl", name="bad", user=user)
    return good, bad


def test_library_lists_datasets_with_band_coloured_scores_and_sorts(client_logged_in, two):
    good, bad = two
    page = client_logged_in.get("/datasets/")
    html = page.content.decode()
    assert page.status_code == 200
    assert 'class="progress-bar progress-excellent"' in html and 'class="progress-bar progress-poor"' in html
    assert "datasets_app/mappings/" not in html and "/datasets/mappings/" in html  # the section's tabs
    by_score = client_logged_in.get("/datasets/?sort=-score").content.decode()
    assert by_score.index(f'data-dataset="{good.pk}"') < by_score.index(f'data-dataset="{bad.pk}"')
    by_score_up = client_logged_in.get("/datasets/?sort=score").content.decode()
    assert by_score_up.index(f'data-dataset="{bad.pk}"') < by_score_up.index(f'data-dataset="{good.pk}"')
    assert client_logged_in.get("/datasets/?sort=bogus").status_code == 200


def test_htmx_upload_returns_the_score_partial(client_logged_in, data_root):
    response = client_logged_in.post(
        "/datasets/library/upload/", {"file": _file(sft_rows(10)), "name": "ui upload"}, **HTMX
    )
    assert response.status_code == 201
    html = response.content.decode()
    ds = Dataset.objects.get(name="ui upload")
    assert f'data-dataset="{ds.pk}"' in html and 'data-score="100.0"' in html and "Excellent" in html
    assert 'hx-trigger="every' not in html  # validated inline: nothing to poll
    assert "data-refresh-library" in html  # the library table below reloads with the new row


def test_htmx_upload_errors_come_back_as_messages(client_logged_in, settings):
    settings.RMN_MAX_UPLOAD_MB = 1
    big = client_logged_in.post("/datasets/library/upload/", {"file": _file(sft_rows(3000))}, **HTMX)
    assert big.status_code == 413 and "larger than the 1 MB upload limit" in big.content.decode()
    bad = io.BytesIO(b"\xff\xfe\n")
    bad.name = "bad.jsonl"
    refused = client_logged_in.post("/datasets/library/upload/", {"file": bad}, **HTMX)
    assert refused.status_code == 400 and "Line 1 is not valid UTF-8" in refused.content.decode()
    missing = client_logged_in.post("/datasets/library/upload/", {}, **HTMX)
    assert missing.status_code == 400 and "Choose a .jsonl file" in missing.content.decode()
    assert Dataset.objects.count() == 0


def test_plain_form_upload_redirects_to_the_report(client_logged_in):
    response = client_logged_in.post("/datasets/library/upload/", {"file": _file(sft_rows(10))})
    ds = Dataset.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/datasets/library/{ds.pk}/"


def test_upload_form_enforces_csrf(user):
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    assert client.post("/datasets/library/upload/", {"file": _file(sft_rows(3))}).status_code == 403
    client.get("/datasets/")
    token = client.cookies["csrftoken"].value
    assert (
        client.post(
            "/datasets/library/upload/", {"file": _file(sft_rows(3)), "csrfmiddlewaretoken": token}
        ).status_code
        == 302
    )


def test_register_form_refuses_escapes_and_accepts_files_under_datasets(client_logged_in, data_root):
    write_jsonl(data_root / "datasets" / "reg.jsonl", sft_rows(5))
    escape = client_logged_in.post("/datasets/library/register/", {"path": "../../etc/passwd"}, **HTMX)
    assert escape.status_code == 400 and "Path refused" in escape.content.decode()
    ok = client_logged_in.post(
        "/datasets/library/register/", {"path": "datasets/reg.jsonl", "name": "reg"}, **HTMX
    )
    assert ok.status_code == 201 and "reg v1" in ok.content.decode()


def test_detail_page_shows_the_full_report(client_logged_in, two):
    _good, bad = two
    html = client_logged_in.get(f"/datasets/library/{bad.pk}/").content.decode()
    assert re.search(r'data-check="exact_duplicates" data-count="10"', html)
    assert 'id="quality-score">' + f"{bad.quality_score:.1f}" in html
    assert "line 31 = line 1" in html  # the duplicate's first occurrence
    for fmt in ("jsonl", "csv", "parquet", "hf"):
        assert f"?format={fmt}" in html
    assert client_logged_in.get("/datasets/library/999999/").status_code == 404


def test_status_partial_stops_polling_when_finished(client_logged_in, data_root, user):
    write_jsonl(data_root / "datasets" / "bg.jsonl", sft_rows(5))
    ds = services.register_dataset_file("datasets/bg.jsonl", user=user, background=True)
    pending = client_logged_in.get(f"/datasets/library/{ds.pk}/status/", **HTMX)
    assert pending.status_code == 200 and "Validating" in pending.content.decode()
    page = client_logged_in.get(f"/datasets/library/{ds.pk}/").content.decode()
    # Pushed over the live socket; the page polls every second only while the socket is down.
    assert f'hx-get="/datasets/library/{ds.pk}/status/?refresh=1" hx-trigger="rmn:live"' in page
    assert f'data-live-pk="{ds.pk}" data-live-poll="every 1s"' in page
    assert (
        f'id="score-{ds.pk}" hx-get="/datasets/library/{ds.pk}/status/"'
        in client_logged_in.get("/datasets/").content.decode()
    )
    services.run_validation(ds.pk)
    done = client_logged_in.get(f"/datasets/library/{ds.pk}/status/?refresh=1", **HTMX)
    assert done.status_code == 286 and done["HX-Refresh"] == "true"
    assert 'data-score="100.0"' in done.content.decode()


def test_validate_again_and_export_from_the_page(client_logged_in, two):
    good, _bad = two
    response = client_logged_in.post(
        f"/datasets/library/{good.pk}/validate/", {"base_model": "", "max_seq_len": ""}, follow=True
    )
    assert "Validated: 100 / 100" in response.content.decode()
    csv_export = client_logged_in.get(f"/datasets/library/{good.pk}/export/?format=csv")
    assert csv_export.status_code == 200 and csv_export["Content-Disposition"].endswith('good-v1.csv"')
    bad_format = client_logged_in.get(f"/datasets/library/{good.pk}/export/?format=doc", follow=True)
    assert "Unknown export format" in bad_format.content.decode()
    needs_model = client_logged_in.post(
        f"/datasets/library/{good.pk}/validate/", {"max_seq_len": "100"}, follow=True
    )
    assert "Choose the base model" in needs_model.content.decode()


def test_delete_needs_staff_and_the_typed_name(user, staff_client, two, data_root):
    from django.test import Client

    good, _bad = two
    analyst = Client()
    analyst.force_login(user)
    refused = analyst.post(f"/datasets/library/{good.pk}/delete/", {"confirm": "good"}, follow=True)
    assert "Only staff can delete" in refused.content.decode() and Dataset.objects.filter(pk=good.pk).exists()
    confirm = staff_client.get(f"/datasets/library/{good.pk}/delete/")
    assert confirm.status_code == 200 and "Type <code>good</code> to confirm" in confirm.content.decode()
    wrong = staff_client.post(f"/datasets/library/{good.pk}/delete/", {"confirm": "nope"})
    assert wrong.status_code == 302 and Dataset.objects.filter(pk=good.pk).exists()
    done = staff_client.post(f"/datasets/library/{good.pk}/delete/", {"confirm": "good"})
    assert done.status_code == 302 and done["Location"] == "/datasets/"
    assert not Dataset.objects.filter(pk=good.pk).exists()
    assert "Deleted good v1" in staff_client.get("/datasets/").content.decode()
