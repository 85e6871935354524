"""Files read later are re-confirmed at open time: a symlink swapped in after registration is never followed by a
download, validation, export or zip (each read path answers a clear 4xx; the outside file never leaves the host)."""

from __future__ import annotations

import io
import zipfile

import pytest
from django.test import Client

from rmnconsole.core.paths import UnsafeFile, iter_tree_inside, open_inside
from tests.security.world import sft_lines, write_jsonl

pytestmark = pytest.mark.django_db
SECRET = b"root:x:0:0:SECRET-OUTSIDE-THE-DATA-ROOT"


@pytest.fixture
def outside(data_root):
    target = data_root.parent / "passwd"
    target.write_bytes(SECRET + b"\n")
    return target


def swap_for_link(path, target):
    path.unlink()
    path.symlink_to(target)


@pytest.fixture
def swapped(world, outside):
    """A registered dataset whose file was replaced by a symlink to a file outside the data root."""
    dataset = world.dataset
    swap_for_link(world.root / dataset.path, outside)
    return dataset


def test_download_refuses_a_swapped_file(swapped, api_headers, client_logged_in):
    response = Client().get(f"/api/datasets/{swapped.pk}/download", **api_headers)
    assert response.status_code == 400 and SECRET not in b"".join(
        getattr(response, "streaming_content", [b""])
    )
    assert "symbolic link" in response.json()["detail"] and "/passwd" not in response.json()["detail"]
    page = client_logged_in.get(f"/datasets/library/{swapped.pk}/download/")
    assert page.status_code == 302 and SECRET not in page.content


def test_validate_answers_4xx_not_500_on_a_swapped_file(swapped, api_headers):
    response = Client().post(
        f"/api/datasets/{swapped.pk}/validate", data={"background": False}, content_type="application/json",
        **api_headers,
    )  # fmt: skip
    assert response.status_code == 400, response.content
    assert "symbolic link" in response.json()["detail"]


@pytest.mark.parametrize("fmt", ["jsonl", "csv"])
def test_export_refuses_a_swapped_file(swapped, api_headers, fmt):
    response = Client().get(f"/api/datasets/{swapped.pk}/export?format={fmt}", **api_headers)
    assert response.status_code == 400
    assert "symbolic link" in response.json()["detail"]


def test_a_link_to_another_file_inside_the_root_is_refused_too(world, api_headers):
    other = write_jsonl(world.root / "datasets" / "other.jsonl", sft_lines(3, seed=5))
    swap_for_link(world.root / world.dataset.path, other)
    response = Client().get(f"/api/datasets/{world.dataset.pk}/download", **api_headers)
    assert response.status_code == 400


def test_a_parent_folder_swapped_for_a_link_is_refused(data_root, outside):
    folder = data_root / "datasets" / "sub"
    write_jsonl(folder / "x.jsonl", sft_lines(2))
    with open_inside("datasets/sub/x.jsonl") as handle:
        assert handle.read(1) == b"{"
    evil = data_root.parent / "evil"
    evil.mkdir()
    (evil / "x.jsonl").write_bytes(SECRET)
    (folder / "x.jsonl").unlink()
    folder.rmdir()
    folder.symlink_to(evil, target_is_directory=True)
    with pytest.raises(UnsafeFile, match="symbolic link"):
        open_inside("datasets/sub/x.jsonl")
    with pytest.raises(UnsafeFile):
        open_inside("datasets/../../evil/x.jsonl")
    with pytest.raises(UnsafeFile, match="not a regular file"):
        open_inside("datasets")


def test_the_adapter_zip_refuses_a_symlink_inside_the_folder(world, outside, api_headers, staff_client):
    adapter = world.adapter
    ok = Client().get(f"/api/adapters/{adapter.pk}/download", **api_headers)
    names = zipfile.ZipFile(io.BytesIO(b"".join(ok.streaming_content))).namelist()
    assert ok.status_code == 200 and any(n.endswith("adapter_config.json") for n in names)
    (world.root / adapter.path / "notes.txt").symlink_to(outside)
    response = Client().get(f"/api/adapters/{adapter.pk}/download", **api_headers)
    assert response.status_code == 409 and "symbolic link" in response.json()["detail"]
    page = staff_client.get(f"/training/adapters/{adapter.pk}/download/")
    assert page.status_code in (404, 409) and SECRET not in page.content
    with pytest.raises(UnsafeFile):
        list(iter_tree_inside(adapter.path))


def test_the_composed_export_refuses_a_member_with_a_symlink(world, outside, staff_client):
    federation = world.federation
    (world.root / world.adapter.path / "extra.bin").symlink_to(outside)
    response = staff_client.post(f"/federation/{federation.pk}/export-adapter/")
    assert response.status_code == 302  # back to the page with the reason, no zip
    assert not list((world.root / "exports").rglob("*.zip")) if (world.root / "exports").exists() else True
