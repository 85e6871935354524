"""Shared fixtures: an isolated data root, users and API tokens, tiny models, and real RQ worker processes.

Under pytest-xdist every worker process (gw0, gw1, …) gets its own PostgreSQL test database (pytest-django adds
the `_gwN` suffix), its own Redis database (REDIS_URL's database + N, set in `pytest_configure` so that worker
subprocesses started through `worker_env` see the same one) and its own tmp_path, hence its own data root.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
from pathlib import Path
from urllib.parse import quote

import pytest
from filelock import FileLock

# One math thread per process, set before torch loads and inherited by xdist workers and worker subprocesses: the suite
# runs many torch processes on 2 cores, and OpenMP threads spinning against each other made a tiny model's training
# step 15x slower (2.1 s against 0.15 s at batch 16).
for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")
if "torch" in sys.modules:  # pytest-django's django.setup() may have loaded it already
    sys.modules["torch"].set_num_threads(int(os.environ["OMP_NUM_THREADS"]))

REPO = Path(__file__).resolve().parent.parent
TINY_CACHE = REPO / "var" / "cache" / "tiny-models"


def xdist_worker_index() -> int | None:
    """0 for xdist's gw0, 1 for gw1, …; None when the run is not split across workers."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    return int(worker[2:]) if worker.startswith("gw") and worker[2:].isdigit() else None


def redis_url_for_worker(url: str, index: int, databases: int = 16) -> str:
    """REDIS_URL moved to database (its database + index): redis://h:p/3 → redis://h:p/5 for gw2."""
    from urllib.parse import parse_qs, urlencode, urlsplit, urlunsplit

    parts = urlsplit(url)
    query = parse_qs(parts.query)
    base = int(query.get("db", ["0"])[0]) if parts.scheme == "unix" else int(parts.path.strip("/") or 0)
    if base == 0:
        raise pytest.UsageError(
            f"REDIS_URL ({url}) selects database 0, which a running console may use; "
            "parallel tests need a non-zero base database (e.g. redis://127.0.0.1:6379/8)"
        )
    db = base + index
    if db >= databases:
        raise pytest.UsageError(
            f"xdist worker gw{index} needs Redis database {db} (REDIS_URL's {base} + {index}) but Redis has "
            f"{databases}: use a lower base database in REDIS_URL or fewer workers"
        )
    if parts.scheme == "unix":
        query["db"] = [str(db)]
        # Rebuilt by hand: urlunsplit writes "unix:/path" for an empty host, which redis-py does not read.
        return f"{url.split('?', 1)[0]}?{urlencode(query, doseq=True)}"
    return urlunsplit(parts._replace(path=f"/{db}"))


def _redis_database_count(url: str) -> int:
    import redis

    try:
        return int(redis.Redis.from_url(url).config_get("databases").get("databases", 16))
    except (redis.RedisError, ValueError):
        return 16  # Redis's default; a server that hides CONFIG fails later, clearly, if it has fewer


def pytest_configure(config):
    from django.conf import settings

    engine = settings.DATABASES["default"]["ENGINE"]
    if os.environ.get("RMN_REQUIRE_POSTGRES") and "postgresql" not in engine:
        raise pytest.UsageError(
            f"RMN_REQUIRE_POSTGRES is set but DATABASE_URL selects {engine}: refusing to fall back"
        )
    index = xdist_worker_index()
    if index is not None:
        # Settings were read before any conftest loads, so the worker's Redis database is patched in here:
        # the setting, the queues (django-rq reads RQ_QUEUES on every call) and the environment children inherit.
        url = redis_url_for_worker(settings.REDIS_URL, index, _redis_database_count(settings.REDIS_URL))
        settings.REDIS_URL = url
        for queue in settings.RQ_QUEUES.values():
            queue["URL"] = url
        os.environ["REDIS_URL"] = url


# Setup that trains something for the whole run; a test that needs it may wait for it (or build it) on a busy
# machine for longer than the 600 s per-test limit: measured 5-8 min per LoRA with six test runs sharing 2 cores.
SHARED_BUILD_FIXTURES = {"trained_adapters"}
SHARED_BUILD_TIMEOUT = 1800


def pytest_collection_modifyitems(config, items):
    for item in items:
        needs_build = SHARED_BUILD_FIXTURES & set(getattr(item, "fixturenames", ()))
        if needs_build and item.get_closest_marker("timeout") is None:
            item.add_marker(pytest.mark.timeout(SHARED_BUILD_TIMEOUT))


@pytest.fixture(autouse=True)
def data_root(settings, tmp_path) -> Path:
    """Every test gets its own RMN_DATA_ROOT."""
    root = tmp_path / "data"
    root.mkdir()
    settings.RMN_DATA_ROOT = root
    return root


@pytest.fixture(autouse=True)
def _no_automatic_evaluation(settings):
    """Off unless a test asks: otherwise every completed training job queues eval runs that an inference worker
    in a later step of the same test (a test prompt, an A/B) would have to work through first."""
    settings.RMN_AUTO_EVALUATE = False


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
    """tiny-llama and tiny-mistral, built once and cached under var/cache (rebuilt when the recipe changes).

    xdist workers (and concurrent test runs) share the cache: the lock makes one of them build while the others
    wait, then find the finished build; without it a late builder would replace a folder another one is reading.
    """
    from training.engine.tiny_models import TINY_MODELS, build_tiny_model

    TINY_CACHE.mkdir(parents=True, exist_ok=True)
    with FileLock(TINY_CACHE / ".build.lock"):
        return {name: build_tiny_model(name, TINY_CACHE / name).path for name in TINY_MODELS}


@pytest.fixture(scope="session")
def built_once(tmp_path_factory):
    """built_once("name", build) → a folder that `build(folder)` filled once for the whole test run.

    Under xdist the first worker to ask builds it (into a staging folder, renamed when complete) in the run's
    shared temp folder while the others wait on the lock, then every worker reads the same files. Only for
    results that depend on nothing but their recipe (trained adapters, generated files), never on a database.
    """
    base = tmp_path_factory.getbasetemp()
    shared = base.parent if xdist_worker_index() is not None else base

    def build_once(name: str, build) -> Path:
        target = shared / f"shared-{name}"
        with FileLock(shared / f"shared-{name}.lock"):
            if not target.exists():
                staging = shared / f".shared-{name}.partial"
                shutil.rmtree(staging, ignore_errors=True)
                staging.mkdir()
                build(staging)
                os.replace(staging, target)
        return target

    return build_once


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
        RMN_AUTO_EVALUATE="true" if settings.RMN_AUTO_EVALUATE else "false",
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
