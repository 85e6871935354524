#!/usr/bin/env bash
# Set up and run the console on embedded defaults (SQLite + an embedded Redis if none answers).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
exec .venv/bin/python manage.py runconsole "$@"
