"""One name rule for adapters, datasets and federations, enforced in the services (every door goes through them)."""

from __future__ import annotations

import pytest

from rmnconsole.core.errors import ServiceError
from rmnconsole.core.names import validate_name
from tests.datasets_app.dataset_helpers import sft_rows, write_jsonl

BAD = [
    "../../etc/passwd",
    "..",
    "a/b",
    "a\\b",
    ".hidden",
    "-flag",
    "two  spaces",
    "tab\tname",
    "x" * 101,
    "",
    "  ",
]
GOOD = ["amazon_schema_v2", "amazon e2e", "fed-additive", "retailer.alpha", "A1"]


@pytest.mark.parametrize("name", BAD)
def test_bad_names_are_refused_with_the_rule(name):
    with pytest.raises(ServiceError) as err:
        validate_name(name, field="name")
    assert err.value.field == "name"


@pytest.mark.parametrize("name", GOOD)
def test_good_names_pass(name):
    assert validate_name(f"  {name} ") == name


@pytest.mark.django_db
def test_every_service_refuses_a_path_as_a_name(data_root, tiny_base_models):
    from datasets_app.library.services import register_dataset_file
    from federation.services import create_federation
    from training.services import submit_training_job

    path = write_jsonl(data_root / "datasets" / "sft" / "ok.jsonl", sft_rows(5))
    with pytest.raises(ServiceError) as err:
        register_dataset_file(path, name="../../etc/passwd", background=False)
    assert err.value.field == "name"

    with pytest.raises(ServiceError) as err:
        create_federation(name="../../etc/passwd", base_model=tiny_base_models["tiny-llama"], members=[])
    assert err.value.field == "name"

    with pytest.raises(ServiceError) as err:
        submit_training_job(
            adapter_type="retailer",
            adapter_name="../../etc/passwd",
            training_type="sft",
            base_model=tiny_base_models["tiny-llama"],
            dataset_path="datasets/sft/ok.jsonl",
        )
    assert err.value.field == "adapter_name"


@pytest.mark.django_db
def test_mapping_and_source_names_follow_the_same_rule(data_root):
    from datasets_app.mappings.services import create_mapping
    from datasets_app.mappings.sources import register_source
    from tests.security.world import SOURCE_HEADER, SOURCE_ROWS

    folder = data_root / "sources"
    folder.mkdir(exist_ok=True)
    lines = [",".join(SOURCE_HEADER)] + [",".join(str(v) for v in row) for row in SOURCE_ROWS]
    (folder / "s.csv").write_text("\n".join(lines) + "\n")
    with pytest.raises(ServiceError) as err:
        register_source(folder / "s.csv", name="../../etc/passwd", retailer="r", time_column="ts")
    assert err.value.field == "name" and "not allowed" in err.value.message
    source = register_source(folder / "s.csv", name="alpha events", retailer="r", time_column="ts")
    with pytest.raises(ServiceError) as err:
        create_mapping(name="../../etc/passwd", retailer="r", source=source)
    assert err.value.field == "name" and "not allowed" in err.value.message
    assert create_mapping(name="alpha_to_rmis", retailer="r", source=source).name == "alpha_to_rmis"


@pytest.mark.django_db
def test_a_name_from_a_file_name_is_made_to_fit(data_root):
    from datasets_app.library.services import register_dataset_file

    path = write_jsonl(data_root / "datasets" / "sft" / "my data (1).jsonl", sft_rows(5))
    assert register_dataset_file(path, background=False).name == "my data 1"
