"""HTML/JS typed into any text field is shown as text on every page that shows it, never run."""

from __future__ import annotations

import json

import pytest

from tests.security.world import ESCAPED, RULES, XSS, XSS_ATTR, World, sft_lines, write_jsonl

pytestmark = pytest.mark.django_db


def _dataset(w: World) -> list[str]:
    from datasets_app.library.services import register_dataset_file

    rows = sft_lines(20)
    rows[0]["messages"][0]["content"] = f"{XSS} {XSS_ATTR}"
    rows += rows[:8]  # duplicates: the report shows example lines, this one among them
    path = write_jsonl(w.root / "datasets" / "xss.jsonl", rows)
    ds = register_dataset_file(path, name="xss_dataset", user=w.user, background=False)
    # The name rule refuses markup now; rows named before it (or through the admin) must still be escaped.
    type(ds).objects.filter(pk=ds.pk).update(name=f"{XSS}{XSS_ATTR}")
    return ["/datasets/", f"/datasets/library/{ds.pk}/", f"/datasets/library/{ds.pk}/status/"]


def _source(w: World) -> list[str]:
    from datasets_app.mappings.sources import register_source

    folder = w.root / "sources"
    folder.mkdir(parents=True, exist_ok=True)
    rows = [{"ts": "2024-03-01T10:00:00Z", XSS: XSS_ATTR, "note": XSS}]
    (folder / "xss.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    src = register_source(
        folder / "xss.jsonl", name="xss source", description=XSS_ATTR, retailer="r", user=w.user
    )
    type(src).objects.filter(pk=src.pk).update(name=f"{XSS} source")  # markup through the admin or older rows
    return ["/datasets/sources/", f"/datasets/sources/{src.pk}/", f"/datasets/sources/{src.pk}/stats/"]


def _mapping(w: World) -> list[str]:
    from datasets_app.mappings.services import create_mapping

    enum = {"source": "adType", "target": "placement_type", "transform": {"type": "enum_map", "unmapped": "null",
            "pairs": [{"source": XSS, "target": "sponsored_product"}]}}  # fmt: skip
    m = create_mapping(
        name="xss_map", retailer="r", source=w.source, rules=[*RULES, enum], notes=XSS_ATTR, user=w.user
    )
    type(m).objects.filter(pk=m.pk).update(name=f"{XSS}map")  # markup through the admin or older rows
    return [
        "/datasets/mappings/",
        f"/datasets/mappings/{m.pk}/",
        f"/datasets/mappings/{m.pk}/edit/",
        f"/datasets/mappings/{m.pk}/diff/",
    ]


def _mapping_errors(w: World) -> list[str]:
    """Error messages that quote what the user typed (a column name) are escaped too."""
    from urllib.parse import quote

    m = w.mapping
    return [
        f"/datasets/mappings/{m.pk}/rules/enum-values/?source={quote(XSS)}&target=placement_type",
        f"/datasets/sources/{w.source.pk}/?fcol={quote(XSS)}&fop=eq&fval=1",
        f"/datasets/mappings/{m.pk}/rules/params/?transform=constant&target=campaign_id&value={quote(XSS)}",
    ]


def _federation(w: World) -> list[str]:
    from federation.runs import submit_inference
    from federation.services import MemberInput, create_federation

    fed = create_federation(
        name="xss-fed", base_model=w.base, method="sequential", user=w.user,
        members=[MemberInput(w.adapter, 1.0, "retailer", prompt_template=f"{XSS_ATTR} {{input}}")],
    )  # fmt: skip
    run = submit_inference(fed, f"{XSS} plan", user=w.user, enqueue=False)
    type(run).objects.filter(pk=run.pk).update(
        status="completed", response=XSS_ATTR + XSS, latency_ms=5.0, ttft_ms=1.0, generated_tokens=3
    )
    return ["/federation/", f"/federation/{fed.pk}/", f"/federation/runs/{run.pk}/"]


def _abtest(w: World) -> list[str]:
    from federation.abtests import create_abtest
    from federation.services import MemberInput, create_federation

    other = create_federation(
        name="world-fed-b", base_model=w.base, members=[MemberInput(w.adapter, 0.5, "retailer")], user=w.user
    )
    test = create_abtest(
        federation_a=w.federation, federation_b=other, name=f"{XSS}ab", prompts_text=f"{XSS} || {XSS_ATTR}",
        user=w.user,
    )  # fmt: skip
    return ["/federation/abtests/", f"/federation/abtests/{test.pk}/"]


def _monitoring(w: World) -> list[str]:
    from monitoring.models import Alert, WorkerHost

    WorkerHost.objects.create(host=f"{XSS}host", platform=XSS_ATTR, no_gpu_reason=XSS)
    Alert.objects.create(rule="stale_heartbeat", key=f"job:{XSS}", message=f"{XSS} stopped {XSS_ATTR}")
    return ["/monitoring/", "/monitoring/cards/", "/"]


def _training(w: World) -> list[str]:
    from training.models import TrainingJob

    job = w.job
    TrainingJob.objects.filter(pk=job.pk).update(
        status="failed", status_reason=f"Dataset problem: line 3 is {XSS}", log=f"[10:00:00] {XSS_ATTR}\n"
    )
    adapter = w.adapter
    (adapter.abs_path() / "README.md").write_text(f"# {XSS}\n\nTrained on {XSS_ATTR}\n")
    return [
        "/training/",
        "/training/history/",
        f"/training/jobs/{job.pk}/",
        f"/training/jobs/{job.pk}/progress/",
        f"/training/adapters/{adapter.pk}/",
    ]


SURFACES = {
    "training": _training,
    "dataset": _dataset,
    "source": _source,
    "mapping": _mapping,
    "mapping-errors": _mapping_errors,
    "federation": _federation,
    "abtest": _abtest,
    "monitoring": _monitoring,
}


@pytest.mark.parametrize("surface", SURFACES)
def test_markup_in_text_fields_is_escaped(surface, client, world, user):
    urls = SURFACES[surface](world)
    client.force_login(user)
    shown = False
    for url in urls:
        response = client.get(url)
        assert response.status_code in (200, 286), (url, response.status_code)
        page = response.content.decode()
        assert XSS not in page, f"{url} renders a live <script> from user text"
        assert XSS_ATTR not in page, f"{url} renders a live attribute injection from user text"
        shown = shown or any(e in page for e in ESCAPED) or "&lt;img src=x onerror" in page
    assert shown, f"none of {urls} shows the text at all (nothing was tested)"
