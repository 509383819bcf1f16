#!/usr/bin/env bash
# The card-payments example end to end on the local stack: installs sluice into .venv, starts
# Kafka, Schema Registry, Flink, Kafka Connect and PostgreSQL (`sluice dev up`), applies the
# pipeline, feeds it payments, waits for the rows in PostgreSQL, runs the data tests and shows
# status and lineage. The stack keeps running afterwards; `sluice dev down` stops it.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
example=examples/card-payments
payments=${DEMO_PAYMENTS:-500}

step() { printf '\n== %s\n' "$*"; }

step "installing sluice and its plugins into .venv"
bash scripts/install.sh
export PATH="$root/.venv/bin:$PATH"
# the test suite's example plugin is installed beside the real ones; the demo does not need it
export SLUICE_DISABLE_PLUGINS=webhook
cd "$example"

step "sluice dev up (the first run downloads Kafka, Flink, Connect and PostgreSQL: a few minutes)"
sluice dev up
set -a
. .sluice/dev/env
set +a

step "feeding merchants and $payments payments to the source topics"
python feed.py --payments "$payments" | tee .sluice/feed.log
valid=$(python -c 'import json, sys; print(json.loads(sys.argv[1])["valid"])' "$(tail -n 1 .sluice/feed.log)")

step "sluice plan"
sluice plan

step "sluice apply (topics, then Flink jobs, then the JDBC sink)"
sluice apply

step "waiting for the $valid valid payments to arrive in PostgreSQL (table payments_clean)"
rows=0
for _ in $(seq 1 90); do
  rows=$(psql "$PG_DSN" -tAc 'SELECT count(*) FROM payments_clean' 2>/dev/null || echo 0)
  echo "  rows in payments_clean: $rows"
  [ "$rows" = "$valid" ] && break
  sleep 2
done
if [ "$rows" != "$valid" ]; then
  echo "error: expected $valid rows in payments_clean, found $rows" >&2
  echo "  look at: sluice status, sluice dev logs connect, sluice dev logs flink-taskmanager" >&2
  exit 1
fi
echo "ledger: $rows rows in PostgreSQL, as many as valid payments"

step "sluice test"
sluice test

step "sluice status"
sluice status

step "sluice lineage"
sluice lineage --columns

cat <<EOF

== the pipeline is running; try next (from $example, with .venv/bin on your PATH):
  set -a; . .sluice/dev/env; set +a             # the stack's addresses
  python feed.py --payments 1000 --rate 50      # more payments, paced
  psql "\$PG_DSN" -c 'SELECT * FROM payments_clean LIMIT 5'
  sluice lineage --format mermaid               # or dot, json
  sluice status                                 # jobs, connector, topics, lag
  sluice dev down                               # stop the stack
EOF
