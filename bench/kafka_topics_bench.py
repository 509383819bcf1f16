"""Kafka plugin benchmark: first apply and re-plan of a project with many topic models.

Starts the Kafka dev service in a temporary project, writes N topic models (no SQL: topics the
applications write themselves), then times `sluice apply` (all creates) and `sluice plan`
against the cluster that now holds them, each as the CLI a user runs. Stops the broker.

    .venv/bin/python bench/kafka_topics_bench.py          # 1,000 topics
    .venv/bin/python bench/kafka_topics_bench.py 200

Goals (issue 3): plan of 1,000 existing topics <= 3 s; first apply of 1,000 topics <= 30 s.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from sluice.dev import DevStack
from sluice.plugin.manager import PluginManager

SLUICE = [sys.executable, "-m", "sluice.cli.main"]
ONLY_KAFKA = "flink,connect,conduktor,webhook"


def write_project(root: Path, bootstrap: str, count: int) -> None:
    models = "".join(
        f"  - name: t{i:05d}\n"
        "    materialized: topic\n"
        "    topic: { partitions: 2, config: { retention.ms: '3600000' } }\n"
        for i in range(count)
    )
    (root / "stream_project.yml").write_text(
        "project: { name: topicbench }\n"
        f"runtime:\n  kafka: {{ bootstrap_servers: '{bootstrap}' }}\n"
        "defaults:\n  topic: { replication_factor: 1 }\n"
        f"models:\n{models}"
    )


def timed(args: list[str], cwd: Path) -> float:
    env = {**os.environ, "SLUICE_DISABLE_PLUGINS": ONLY_KAFKA, "NO_COLOR": "1"}
    started = time.perf_counter()
    result = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    if result.returncode not in (0, 2):
        sys.exit(f"failed: {' '.join(args)}\n{result.stdout}{result.stderr}")
    return elapsed


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
    work = Path(tempfile.mkdtemp(prefix="sluice-kafka-bench-"))
    stack = DevStack(work, PluginManager().dev_services(), echo=lambda _: None)
    try:
        env = stack.up(["kafka"])
        write_project(work, env["KAFKA_BOOTSTRAP"], count)
        project = ["--project-dir", str(work)]
        apply_s = timed([*SLUICE, "apply", *project, "--threads", "8"], work)
        plan_s = timed([*SLUICE, "plan", *project, "--detailed-exitcode"], work)
        print(f"python {sys.version.split()[0]}, {os.cpu_count()} cpus, {count} topic models")
        print(f"first apply (creates {count} topics): {apply_s:6.2f} s")
        print(f"plan against the cluster holding them: {plan_s:6.2f} s")
    finally:
        stack.down()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
