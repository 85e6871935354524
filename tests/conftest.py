"""Shared fixtures: an isolated data root, users and API tokens, tiny models, and real RQ worker processes."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from pathlib import Path
from urllib.parse import quote

import pytest

REPO = Path(__file__).resolve().parent.parent
TINY_CACHE = REPO / "var" / "cache" / "tiny-models"


def pytest_configure(config):
    from django.conf import settings

    engine = settings.DATABASES["default"]["ENGINE"]
    if os.environ.get("RMN_REQUIRE_POSTGRES") and "postgresql" not in engine:
        raise pytest.UsageError(
            f"RMN_REQUIRE_POSTGRES is set but DATABASE_URL selects {engine}: refusing to fall back"
        )


@pytest.fixture(autouse=True)
def data_root(settings, tmp_path) -> Path:
    """Every test gets its own RMN_DATA_ROOT."""
    root = tmp_path / "data"
    root.mkdir()
    settings.RMN_DATA_ROOT = root
    return root


@pytest.fixture(autouse=True)
def _clean_redis(settings):
    """Empty the test Redis database before each test (never db 0, which a running console may use)."""
    import redis

    client = redis.Redis.from_url(settings.REDIS_URL)
    if client.connection_pool.connection_kwargs.get("db", 0) == 0:
        yield
        return
    with contextlib.suppress(redis.ConnectionError):  # tests that need Redis fail on their own, clearly
        client.flushdb()
    yield


@pytest.fixture
def user(django_user_model):
    return django_user_model.objects.create_user("analyst", "analyst@example.com", "analyst-pass-123")


@pytest.fixture
def staff_user(django_user_model):
    return django_user_model.objects.create_user(
        "lead", "lead@example.com", "lead-pass-123", is_staff=True, is_superuser=True
    )


@pytest.fixture
def client_logged_in(client, user):
    client.force_login(user)
    return client


@pytest.fixture
def staff_client(client, staff_user):
    client.force_login(staff_user)
    return client


@pytest.fixture
def api_token(user) -> str:
    from rmnconsole.models import ApiToken

    _, raw = ApiToken.issue(user, name="tests")
    return raw


@pytest.fixture
def api_headers(api_token) -> dict[str, str]:
    return {"HTTP_AUTHORIZATION": f"Bearer {api_token}"}


@pytest.fixture(scope="session")
def tiny_models() -> dict[str, Path]:
    """tiny-llama and tiny-mistral, built once and cached under var/cache (rebuilt when the recipe changes)."""
    from training.engine.tiny_models import TINY_MODELS, build_tiny_model

    return {name: build_tiny_model(name, TINY_CACHE / name).path for name in TINY_MODELS}


@pytest.fixture
def tiny_base_models(tiny_models):
    """FoundationModel rows for the tiny models (needs a django_db mark; transaction=True when a worker runs)."""
    from training.model_registry import register_local_model

    return {
        name: register_local_model(
            name, "llama" if "llama" in name else "mistral", str(path), 143_000, dtype="float32", is_tiny=True
        )
        for name, path in tiny_models.items()
    }


def worker_env(settings) -> dict[str, str]:
    """The environment a worker subprocess needs to see this test's database, Redis and data root."""
    db = settings.DATABASES["default"]
    if "postgresql" not in db["ENGINE"]:
        pytest.skip("worker-process tests need PostgreSQL (set DATABASE_URL=postgres://…)")
    auth = quote(db.get("USER") or "")
    if db.get("PASSWORD"):
        auth += ":" + quote(db["PASSWORD"])
    url = f"postgres://{auth}@{db.get('HOST') or '127.0.0.1'}:{db.get('PORT') or 5432}/{db['NAME']}"
    env = dict(os.environ)
    env.pop("RMN_TEST_DB_NAME", None)
    env.update(
        DATABASE_URL=url,
        REDIS_URL=settings.REDIS_URL,
        RMN_DATA_ROOT=str(settings.RMN_DATA_ROOT),
        DJANGO_SETTINGS_MODULE="rmnconsole.settings",
        PYTHONUNBUFFERED="1",
    )
    return env


class WorkerFactory:
    def __init__(self, settings, tmp_path: Path):
        self.settings = settings
        self.tmp_path = tmp_path
        self.procs: list[subprocess.Popen] = []

    def _args(self, queues, burst: bool, simple: bool, name: str | None) -> list[str]:
        args = [sys.executable, str(REPO / "manage.py"), "rqworker", *queues]
        if burst:
            args.append("--burst")
        if simple:
            args += ["--worker-class", "rq.worker.SimpleWorker"]
        if name:
            args += ["--name", name]
        return args

    def run_burst(
        self, *queues: str, simple: bool = False, timeout: float = 600
    ) -> subprocess.CompletedProcess:
        """Run a real worker until the queues are empty; returns its output."""
        return subprocess.run(
            self._args(queues, True, simple, None),
            env=worker_env(self.settings),
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    def start(self, *queues: str, simple: bool = False, name: str | None = None) -> subprocess.Popen:
        """Start a long-running real worker; it is stopped at the end of the test."""
        return self.start_command(self._args(queues, False, simple, name))

    def start_command(self, args: list[str]) -> subprocess.Popen:
        """Start any long-running worker command (e.g. `manage.py training_worker …`), stopped with the test."""
        log = open(self.tmp_path / f"worker-{len(self.procs)}.log", "w")  # noqa: SIM115 - closed with the process
        proc = subprocess.Popen(
            args,
            env=worker_env(self.settings),
            cwd=REPO,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        proc.log_path = log.name
        self.procs.append(proc)
        return proc

    def stop_all(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()


@pytest.fixture
def rq_worker(settings, tmp_path, transactional_db):
    """Real `manage.py rqworker` processes against this test's database and Redis.

    `rq_worker.run_burst("training")` runs until the queue is empty; `rq_worker.start("inference", simple=True)`
    keeps one running for the test. Needs transactional_db so the worker sees committed rows.
    """
    factory = WorkerFactory(settings, tmp_path)
    yield factory
    factory.stop_all()
