#!/usr/bin/env bash
# The whole test suite: installs everything into .venv, checks lint, runs every test.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh
echo "== ruff"
.venv/bin/ruff check core/src plugins tests bench
.venv/bin/ruff format --check core/src plugins tests bench
echo "== mypy"
.venv/bin/mypy core/src/sluice plugins/*/src tests/example_plugin/src
echo "== pytest"
set +e
.venv/bin/pytest tests -q -p no:cacheprovider --timeout=600 "$@"
status=$?
set -e
if [ "$status" -eq 5 ]; then
  echo "pytest collected no test: that is a failure" >&2
  exit 1
fi
exit "$status"
