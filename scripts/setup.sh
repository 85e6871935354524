#!/usr/bin/env bash
# Create .venv (Python 3.11) and install the console; `--test` adds the test extras. Re-runs are quick no-ops.
set -euo pipefail
cd "$(dirname "$0")/.."

extras=""
[ "${1:-}" = "--test" ] && extras="[test]"

py=""
for candidate in python3.11 python3; do
  if command -v "$candidate" >/dev/null && "$candidate" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))'; then
    py=$candidate; break
  fi
done
[ -n "$py" ] || { echo "error: Python 3.11 is required (Django 5.2 LTS; Django 6 would need 3.12)" >&2; exit 1; }

[ -x .venv/bin/python ] || "$py" -m venv .venv
stamp=".venv/.installed-$(sha256sum pyproject.toml | cut -c1-16)${extras:+-test}"
if [ ! -f "$stamp" ]; then
  .venv/bin/python -m pip install -q --upgrade pip
  # torch first and pinned: otherwise pip resolves a multi-GB CUDA build on CPU machines.
  .venv/bin/python -m pip install -q "torch==2.13.0"
  .venv/bin/python -m pip install -q -e ".${extras}"
  rm -f .venv/.installed-*
  touch "$stamp"
fi

# Chart.js for sites without the CDN: the console falls back to this copy (served as static/vendor/chartjs/).
chartjs="var/npm/node_modules/chart.js/dist/chart.umd.min.js"
if [ ! -f "$chartjs" ]; then
  if command -v npm >/dev/null; then
    npm install --silent --no-audit --no-fund --prefix var/npm "chart.js@4.6.1"
  else
    echo "warning: npm not found; charts need the Chart.js CDN (install Node.js and re-run to vendor a local copy)" >&2
  fi
fi
