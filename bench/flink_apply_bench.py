"""Flink plugin benchmark: `sluice apply` of a 10-model project until every job is RUNNING.

Uses a running local stack (its `.sluice/dev/env`), or starts Kafka and Flink in a temporary
directory and stops them after. Writes N filter models over one source (each its own Flink
job), applies them in-process, and splits the time of the job steps into what Flink took (its
REST and SQL Gateway calls, and the waits for a job to run) and what sluice took itself.

    .venv/bin/python bench/flink_apply_bench.py                       # own stack, 10 models
    .venv/bin/python bench/flink_apply_bench.py --env examples/card-payments/.sluice/dev/env

Goal (issue 4): sluice's own share of the job steps under 10%.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from click.testing import CliRunner
from confluent_kafka.admin import AdminClient, NewTopic

import sluice_flink.client as flink_client
from sluice.cli.main import cli
from sluice.testing import local_stack


class FlinkClock:
    """Adds up the time spent inside Flink's API calls and waits, outermost calls only."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self._depth = threading.local()
        self._lock = threading.Lock()

    def wrap(self, function: Callable[..., Any]) -> Callable[..., Any]:
        def timed(*args: Any, **kwargs: Any) -> Any:
            depth = getattr(self._depth, "value", 0)
            self._depth.value = depth + 1
            began = time.monotonic()
            try:
                return function(*args, **kwargs)
            finally:
                self._depth.value = depth
                if depth == 0:
                    with self._lock:
                        self.seconds += time.monotonic() - began

        return timed


@contextlib.contextmanager
def timing_flink_calls(clock: FlinkClock) -> Iterator[None]:
    request, wait_for = flink_client._Http.request, flink_client.wait_for
    flink_client._Http.request = clock.wrap(request)  # type: ignore[method-assign]
    flink_client.wait_for = clock.wrap(wait_for)
    try:
        yield
    finally:
        flink_client._Http.request = request  # type: ignore[method-assign]
        flink_client.wait_for = wait_for


def write_project(root: Path, name: str, topic: str, count: int) -> None:
    models = "".join(
        f"  - name: over_{i}\n"
        "    materialized: flink\n"
        f"    sql: SELECT id, amount FROM {{{{ source('events') }}}} WHERE amount > {i}\n"
        for i in range(count)
    )
    (root / "stream_project.yml").write_text(
        f"project: {{ name: {name} }}\n"
        "runtime:\n"
        "  kafka: { bootstrap_servers: '${KAFKA_BOOTSTRAP}' }\n"
        "  flink: { rest_url: '${FLINK_REST_URL}', sql_gateway_url: '${FLINK_SQL_GATEWAY_URL}' }\n"
        "defaults:\n  topic: { partitions: 1, replication_factor: 1 }\n"
        "sources:\n"
        f"  - name: events\n    topic: {topic}\n"
        "    columns: [{ name: id, type: STRING }, { name: amount, type: INT }]\n"
        f"models:\n{models}",
        encoding="utf-8",
    )


def read_env(path: Path) -> dict[str, str]:
    lines = path.read_text(encoding="utf-8").splitlines()
    return dict(line.removeprefix("export ").split("=", 1) for line in lines if "=" in line)


def run(env: dict[str, str], root: Path, *args: str) -> str:
    result = CliRunner().invoke(cli, [*args, "--project-dir", str(root)], env=env)
    if result.exit_code != 0:
        raise SystemExit(f"sluice {' '.join(args)} failed:\n{result.output}")
    return result.output


def bench(env: dict[str, str], count: int) -> None:
    name = f"flinkbench-{uuid.uuid4().hex[:6]}"
    topic = f"{name}.events"
    admin = AdminClient({"bootstrap.servers": env["KAFKA_BOOTSTRAP"]})
    admin.create_topics([NewTopic(topic, 1, 1)])[topic].result(timeout=30)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        write_project(root, name, topic, count)
        run(env, root, "compile")
        clock = FlinkClock()
        began = time.monotonic()
        with timing_flink_calls(clock):
            run(env, root, "apply")
        wall = time.monotonic() - began
        results = json.loads((root / "target" / "run_results.json").read_text())["results"]
        steps = sum(r["seconds"] for r in results if r["kind"] == "job")
        own = max(0.0, steps - clock.seconds)
        print(f"models (jobs)                     {count}")
        print(f"apply until all RUNNING           {wall:6.1f} s")
        print(f"job steps, summed over threads    {steps:6.1f} s")
        print(f"  in Flink calls and waits        {clock.seconds:6.1f} s")
        print(f"  sluice's own share              {own:6.2f} s ({100 * own / steps:.1f}%)")
        print(f"per job: Flink {clock.seconds / count:.2f} s, sluice {own / count:.3f} s")
        run(env, root, "destroy", "--yes")
    admin.delete_topics([topic])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env", type=Path, help="the .sluice/dev/env of a running stack")
    parser.add_argument("--models", type=int, default=10)
    args = parser.parse_args()
    os.environ.setdefault("SLUICE_DISABLE_PLUGINS", "webhook")
    if args.env:
        bench(read_env(args.env), args.models)
        return
    with (
        tempfile.TemporaryDirectory() as tmp,
        local_stack(Path(tmp), ["kafka", "flink-sql-gateway"]) as env,
    ):
        bench(env, args.models)


if __name__ == "__main__":
    main()
