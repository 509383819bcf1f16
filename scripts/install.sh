#!/usr/bin/env bash
# Creates .venv (if needed) and installs sluice-core, every plugin under plugins/, the example
# third-party plugin and the test tools, all editable. Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --upgrade pip
packages=(-e core)
for plugin in plugins/*/; do
  plugin="${plugin%/}"
  [ -f "$plugin/pyproject.toml" ] || continue
  # with the plugin's test extra when it has one (what its tests import)
  if grep -q '^test = ' "$plugin/pyproject.toml"; then
    packages+=(-e "$plugin[test]")
  else
    packages+=(-e "$plugin")
  fi
done
packages+=(-e tests/example_plugin)
.venv/bin/python -m pip install --quiet "${packages[@]}" \
  "pytest>=8" "pytest-timeout>=2.3" "ruff>=0.6" "mypy>=1.10" "types-PyYAML" "jsonschema>=4.21" \
  "playwright>=1.40"  # drives the system's Chromium in the docs site's browser tests
