#!/usr/bin/env bash
# Runs sluice on the bundled card-payments example: validate, compile, list, lineage.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh
export PATH="$PWD/.venv/bin:$PATH"
example=examples/card-payments
echo "== sluice plugins"
sluice plugins --project-dir "$example" --no-probe
echo "== sluice validate"
sluice validate --project-dir "$example"
echo "== sluice compile"
sluice compile --project-dir "$example" -v
echo "== sluice ls"
sluice ls --project-dir "$example"
echo "== sluice lineage"
sluice lineage --project-dir "$example" --columns
echo
echo "next: read $example/target/manifest.json and $example/target/flink/*.sql,"
echo "      or try: .venv/bin/sluice lineage --project-dir $example --format mermaid"
