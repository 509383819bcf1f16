"""Kafka plugin benchmark: first apply and re-plan of a project with many topic models.

Writes N topic models (no SQL: topics the applications write themselves) into a temporary
project, then times `sluice apply` (all creates) and `sluice plan` against the cluster that now
holds them, each as the CLI a user runs. At the end `sluice destroy` deletes the topics.

    /work/venv/bin/python bench/kafka_topics_bench.py            # starts a broker (DevStack)
    KAFKA_BOOTSTRAP=localhost:9092 /work/venv/bin/python bench/kafka_topics_bench.py
    /work/venv/bin/python bench/kafka_topics_bench.py 200 --bootstrap localhost:9092
    /work/venv/bin/python bench/kafka_topics_bench.py --bootstrap localhost:9092 \
        --repeat 3 --against /tmp/sluice-before

With a broker given (``--bootstrap`` or ``KAFKA_BOOTSTRAP``) the project and its topics get
names of their own (``tb<random>_<n>``), so a shared broker is safe to use. ``--repeat N``
plans N times and prints the least and the median time. ``--against DIR`` plans with another
sluice checkout too (its ``core/src`` and ``plugins/*/src`` go first on PYTHONPATH, e.g. after
``git archive HEAD core plugins | tar -x -C DIR``), alternating the two so that both meet the
same load: before/after in one run. The apply is timed once, with this checkout; each checkout
plans once untimed first, so that its bytecode is compiled (see :func:`checkout_env`).

Goals (issue 3): plan of 1,000 existing topics <= 3 s; first apply of 1,000 topics <= 30 s.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

SLUICE = [sys.executable, "-m", "sluice.cli.main"]
ONLY_KAFKA = "flink,connect,conduktor,webhook"


def write_project(root: Path, bootstrap: str, prefix: str, count: int) -> None:
    models = "".join(
        f"  - name: {prefix}{i:05d}\n"
        "    materialized: topic\n"
        "    topic: { partitions: 2, config: { retention.ms: '3600000' } }\n"
        for i in range(count)
    )
    (root / "stream_project.yml").write_text(
        f"project: {{ name: {prefix}bench }}\n"
        f"runtime:\n  kafka: {{ bootstrap_servers: '{bootstrap}' }}\n"
        "defaults:\n  topic: { replication_factor: 1 }\n"
        f"models:\n{models}"
    )


def checkout_env(checkout: Path | None, bytecode: Path) -> dict[str, str]:
    """The environment that runs sluice from ``checkout`` (None: the installed one).

    The dev virtualenv installs the core and the plugins editable (paths in a .pth file), so
    putting another checkout's source folders first on PYTHONPATH runs that checkout instead.
    Compiled bytecode is kept under ``bytecode``, as an installed sluice has it: with
    PYTHONDONTWRITEBYTECODE set (as in some dev shells) every timed run compiled all of sluice
    again, about a second of the plan's time, and a checkout without .pyc files paid it in full.
    """
    env = {**os.environ, "SLUICE_DISABLE_PLUGINS": ONLY_KAFKA, "NO_COLOR": "1"}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPYCACHEPREFIX"] = str(bytecode)
    if checkout is not None:
        folders = [checkout / "core" / "src", *sorted(checkout.glob("plugins/*/src"))]
        env["PYTHONPATH"] = os.pathsep.join(str(f.resolve()) for f in folders)
    return env


def timed(args: list[str], cwd: Path, env: dict[str, str]) -> float:
    started = time.perf_counter()
    result = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    if result.returncode not in (0, 2):
        sys.exit(f"failed: {' '.join(args)}\n{result.stdout}{result.stderr}")
    return elapsed


@contextmanager
def broker(given: str | None, work: Path) -> Iterator[str]:
    if given:
        yield given
        return
    from sluice.dev import DevStack
    from sluice.plugin.manager import PluginManager

    stack = DevStack(work, PluginManager().dev_services(), echo=lambda _: None)
    try:
        print("starting a local broker ...", flush=True)
        yield stack.up(["kafka"])["KAFKA_BOOTSTRAP"]
    finally:
        stack.down()


def delete_leftovers(bootstrap: str, prefix: str) -> int:
    """Delete topics named ``prefix*`` that destroy left (it should leave none)."""
    from confluent_kafka.admin import AdminClient

    admin = AdminClient({"bootstrap.servers": bootstrap})
    names = [t for t in admin.list_topics(timeout=30).topics if t.startswith(prefix)]
    for future in admin.delete_topics(names, request_timeout=60).values() if names else ():
        future.result()
    return len(names)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("count", nargs="?", type=int, default=1000, help="topic models")
    parser.add_argument(
        "--bootstrap",
        default=os.environ.get("KAFKA_BOOTSTRAP"),
        help="a running broker to use (default: $KAFKA_BOOTSTRAP, else start one)",
    )
    parser.add_argument("--repeat", type=int, default=1, help="plans per checkout")
    parser.add_argument("--against", type=Path, help="another sluice checkout to compare with")
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    prefix = f"tb{uuid.uuid4().hex[:6]}_"
    work = Path(tempfile.mkdtemp(prefix="sluice-kafka-bench-"))
    runs = {"this": checkout_env(None, work / "bytecode-this")}
    if args.against is not None:
        runs = {"against": checkout_env(args.against, work / "bytecode-against"), **runs}
    try:
        with broker(args.bootstrap, work) as bootstrap:
            write_project(work, bootstrap, prefix, args.count)
            project = ["--project-dir", str(work)]
            try:
                apply_s = timed([*SLUICE, "apply", *project, "--threads", "8"], work, runs["this"])
                plans: dict[str, list[float]] = {label: [] for label in runs}
                for env in runs.values():  # untimed: compiles the bytecode, warms the caches
                    timed([*SLUICE, "plan", *project], work, env)
                for _ in range(args.repeat):  # alternate, so both checkouts meet the same load
                    for label, env in runs.items():
                        plan = [*SLUICE, "plan", *project, "--detailed-exitcode"]
                        plans[label].append(timed(plan, work, env))
            finally:
                timed([*SLUICE, "destroy", *project, "--yes"], work, runs["this"])
                left = delete_leftovers(bootstrap, prefix)
                if left:
                    print(f"warning: destroy left {left} topics; deleted them")
        print(f"python {sys.version.split()[0]}, {os.cpu_count()} cpus, {args.count} topic models")
        print(f"first apply (creates {args.count} topics): {apply_s:6.2f} s")
        for label, seconds in plans.items():
            print(
                f"{label:<8} plan against the cluster holding them: "
                f"min {min(seconds):5.2f} s, median {statistics.median(seconds):5.2f} s "
                f"of {len(seconds)}  ({', '.join(f'{s:.2f}' for s in seconds)})"
            )
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
