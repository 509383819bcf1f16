"""Checks the output of `bash scripts/demo.sh` (CI runs the demo, then this on its log).

    python scripts/check_demo.py demo.log

Exits 1 and names each missing fact when the demo did not do what the README promises.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

JOBS = (
    "payments_clean",
    "large_payments",
    "merchant_minute_totals",
    "payments_enriched",
    "card_activity",
)


def problems(log: str) -> list[str]:
    found = []

    def expect(pattern: str, what: str) -> None:
        if not re.search(pattern, log, re.MULTILINE):
            found.append(what)

    expect(r"^apply: 11 success", "apply created the 11 resources of the example")
    rows = re.search(r"^ledger: (\d+) rows in PostgreSQL, as many as valid payments", log, re.M)
    valid = re.search(r'^\{"merchants": \d+, "payments": \d+, "valid": (\d+)\}', log, re.M)
    if not (rows and valid and rows.group(1) == valid.group(1) and int(rows.group(1)) > 0):
        found.append("every valid payment arrived in PostgreSQL")
    expect(r"^PASS  payments_clean_quality", "the data test payments_clean_quality passed")
    expect(r"^test: 2 pass", "both data tests passed")
    for job in JOBS:
        expect(rf"sluice\.card-payments\.{job}\s+RUNNING", f"the Flink job of {job} is RUNNING")
    expect(r"card-payments-payments_to_ledger\s+RUNNING\s+tasks=0:RUNNING", "the sink is RUNNING")
    expect(r"payments_to_ledger \(sink\)", "the lineage shows the sink")
    expect(r"^== the pipeline is running; try next", "the demo ends with what to try next")
    return found


def main() -> int:
    log = Path(sys.argv[1]).read_text(encoding="utf-8", errors="replace")
    missing = problems(log)
    for what in missing:
        print(f"demo check failed: {what}", file=sys.stderr)
    if not missing:
        print("demo check: every expected fact is in the output")
    return 1 if missing else 0


if __name__ == "__main__":
    sys.exit(main())
