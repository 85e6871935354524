"""The dependency rules of docs/ARCHITECTURE.md that import-linter cannot see."""

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
APPS = ("rmnconsole", "datasets_app", "training", "federation", "monitoring")
# apps.get_model("app", "Model") by name hides an import the contracts would refuse; migrations need it.
GET_MODEL = re.compile(r"\bget_model\(")


def _sources():
    for app in APPS:
        for path in (ROOT / app).rglob("*.py"):
            if "migrations" not in path.parts:
                yield path


def test_no_app_looks_up_another_apps_models_by_name():
    offenders = [
        f"{path.relative_to(ROOT)}:{n}"
        for path in _sources()
        for n, line in enumerate(path.read_text().splitlines(), 1)
        if GET_MODEL.search(line)
    ]
    assert offenders == []


def test_the_grep_sees_a_lookup(tmp_path):
    assert GET_MODEL.search('Dataset = apps.get_model("datasets_app", "Dataset")')
    assert not GET_MODEL.search("from datasets_app.models import Dataset")


def test_base_template_loads_no_app_tags():
    base = (ROOT / "templates" / "base.html").read_text()
    loads = " ".join(re.findall(r"{%\s*load\s+([^%]+)%}", base)).split()
    assert not [name for name in loads if name.endswith("_tags")], loads


@pytest.mark.skipif(
    not (ROOT / ".venv" / "bin" / "lint-imports").exists(), reason="lint-imports not installed"
)
def test_import_contracts_hold():
    done = subprocess.run(
        [str(ROOT / ".venv" / "bin" / "lint-imports"), "--no-cache"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        env={"PATH": str(Path(sys.executable).parent)},
    )
    assert done.returncode == 0, done.stdout[-3000:]


def test_every_api_router_is_mounted_under_its_owners_prefix():
    from rmnconsole.api import api

    prefixes = [prefix for prefix, _router in api._routers if _router is not api.default_router]
    assert "" not in prefixes and len(prefixes) == len(set(prefixes)), prefixes


def test_routing_and_the_dashboard_agree_on_bitsandbytes():
    from monitoring.engine.capabilities import detect_capabilities
    from monitoring.engine.sampler import GpuSampler
    from training.engine.packages import bitsandbytes_version
    from training.routing import detect_capabilities as routing_capabilities

    dashboard = detect_capabilities("here", GpuSampler(), cuda_probe=lambda: False)
    assert routing_capabilities().bitsandbytes is dashboard.bitsandbytes is bool(bitsandbytes_version())
    assert dashboard.bitsandbytes_version == bitsandbytes_version() != ""  # pinned in pyproject


ENV_READ = re.compile(
    r"""(?:os\.environ\.get|os\.environ\[|os\.getenv|env(?:str|int|float|bool|list))\(?\s*["']([A-Z][A-Z0-9_]+)["']"""
)


def test_every_environment_variable_the_code_reads_is_in_the_readme():
    readme = (ROOT / "README.md").read_text()
    read = {
        name
        for path in [*_sources(), ROOT / "tests" / "conftest.py"]
        for name in ENV_READ.findall(path.read_text())
    }
    assert {
        "RMN_WORKER_HOST",
        "RMN_DATA_ROOT",
        "RMN_TEST_DB_NAME",
    } <= read  # the scan sees each way of reading
    assert sorted(name for name in read if f"`{name}`" not in readme) == []
