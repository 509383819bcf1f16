"""The Flink dev stack for real: JobManager, TaskManager and SQL Gateway as java processes.

The stack is started once for the module (the first run downloads the apache-flink-libraries
wheel and the connector jars into ``$SLUICE_CACHE_DIR`` or ``~/.cache/sluice``), queried through
Flink's REST API and the SQL Gateway's REST API, and stopped at the end; the last test checks
that ``down`` left no process behind. Run with ``-s`` to see the start time and the memory.
"""

from __future__ import annotations

import contextlib
import json
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from sluice.dev import DevStack
from sluice_flink import devstack

pytestmark = pytest.mark.integration

QUERY_TIMEOUT = 120.0


@dataclass
class Stack:
    dev: DevStack
    env: dict[str, str]
    pids: dict[str, int] = field(default_factory=dict)


def _rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat[stat.rindex(")") + 2] not in "ZX"


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    project = tmp_path_factory.mktemp("flink-project")
    services = [("sluice-flink", service) for service in devstack.dev_services()]
    dev = DevStack(project, services, echo=lambda line: print(f"[dev] {line}"))
    began = time.monotonic()
    try:
        env = dev.up()
        print(f"\n[dev] flink stack up in {time.monotonic() - began:.1f}s")
        result = Stack(dev, env)
        for state in dev.status():
            assert state.pid is not None
            result.pids[state.name] = state.pid
            print(f"[dev] {state.name}: pid {state.pid}, RSS {_rss_mib(state.pid):.0f} MiB")
        yield result
    finally:
        dev.down()


def _request(method: str, url: str, body: object | None = None) -> Any:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(
        url, data=data, method=method, headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            text = response.read()
    except urllib.error.HTTPError as error:
        # The gateway answers 500 with a server-side stack trace: keep its root causes.
        detail = error.read().decode(errors="replace")
        with contextlib.suppress(ValueError, KeyError, TypeError):
            detail = "\n".join(json.loads(detail)["errors"])
        causes = [line for line in detail.splitlines() if line.startswith("Caused by")]
        why = "\n".join(causes[-3:]) or detail[:2000]
        raise AssertionError(f"{method} {url}: {error.code}\n{why}") from error
    return json.loads(text) if text else None


class Gateway:
    """A session of the SQL Gateway's REST API (v1)."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.session = _request("POST", f"{url}/v1/sessions", {})["sessionHandle"]

    def run(self, statement: str) -> list[dict[str, Any]]:
        """Run one statement; every row it gives (``{"kind": ..., "fields": [...]}``)."""
        base = f"{self.url}/v1/sessions/{self.session}"
        operation = _request("POST", f"{base}/statements", {"statement": statement})
        next_uri: str | None = (
            f"/v1/sessions/{self.session}/operations/{operation['operationHandle']}/result/0"
        )
        rows: list[dict[str, Any]] = []
        deadline = time.monotonic() + QUERY_TIMEOUT
        while next_uri:
            assert time.monotonic() < deadline, f"no end of results for: {statement}"
            page = _request("GET", f"{self.url}{next_uri}")
            rows += page.get("results", {}).get("data", [])
            if page["resultType"] == "EOS":
                break
            if page["resultType"] == "NOT_READY" or not page.get("results", {}).get("data"):
                time.sleep(0.2)
            next_uri = page.get("nextResultUri")
        return rows

    def close(self) -> None:
        _request("DELETE", f"{self.url}/v1/sessions/{self.session}")


@pytest.fixture
def gateway(stack: Stack) -> Iterator[Gateway]:
    session = Gateway(stack.env["FLINK_SQL_GATEWAY_URL"])
    yield session
    session.close()


def _final_value(rows: list[dict[str, Any]]) -> Any:
    """The last value of a one-column changelog (a streaming aggregate updates its row)."""
    values = [row["fields"][0] for row in rows if row["kind"] in ("INSERT", "UPDATE_AFTER")]
    assert values, rows
    return values[-1]


def test_env_names_both_endpoints(stack: Stack) -> None:
    ports = devstack.read_ports(stack.dev.service_dir(devstack.JOBMANAGER))
    assert stack.env["FLINK_REST_URL"] == f"http://localhost:{ports['rest']}"
    assert stack.env["FLINK_SQL_GATEWAY_URL"] == f"http://localhost:{ports['sql_gateway']}"
    written = (stack.dev.state_dir / "env").read_text()
    assert "export FLINK_REST_URL=" in written
    assert "export FLINK_SQL_GATEWAY_URL=" in written


def test_cluster_has_one_taskmanager_with_four_slots(stack: Stack) -> None:
    overview = _request("GET", f"{stack.env['FLINK_REST_URL']}/overview")
    assert overview["taskmanagers"] == 1
    assert overview["slots-total"] == devstack.TASK_SLOTS == 16
    assert overview["flink-version"] == devstack.FLINK_VERSION


def test_gateway_runs_a_query_on_the_cluster(stack: Stack, gateway: Gateway) -> None:
    gateway.run(
        "CREATE TEMPORARY TABLE numbers (n INT) WITH ("
        "'connector' = 'datagen', 'number-of-rows' = '5', "
        "'fields.n.min' = '1', 'fields.n.max' = '100')"
    )
    assert _final_value(gateway.run("SELECT COUNT(*) AS c FROM numbers")) == 5
    jobs = _request("GET", f"{stack.env['FLINK_REST_URL']}/jobs/overview")["jobs"]
    assert any(job["state"] == "FINISHED" for job in jobs), jobs


def test_kafka_connector_and_avro_confluent_format_are_found(gateway: Gateway) -> None:
    gateway.run(
        "CREATE TEMPORARY TABLE orders (id BIGINT, amount DOUBLE) WITH ("
        "'connector' = 'kafka', 'topic' = 'x', "
        "'properties.bootstrap.servers' = 'localhost:1', "
        "'format' = 'json', 'scan.startup.mode' = 'earliest-offset')"
    )
    # EXPLAIN makes the planner build the table source, i.e. find the connector's factory.
    plan = gateway.run("EXPLAIN SELECT * FROM orders")[0]["fields"][0]
    assert "TableSourceScan(table=[[default_catalog, default_database, orders]]" in plan
    gateway.run(
        "CREATE TEMPORARY TABLE payments (id BIGINT) WITH ("
        "'connector' = 'kafka', 'topic' = 'y', "
        "'properties.bootstrap.servers' = 'localhost:1', "
        "'format' = 'avro-confluent', 'avro-confluent.url' = 'http://localhost:1', "
        "'scan.startup.mode' = 'earliest-offset')"
    )
    assert "payments" in gateway.run("EXPLAIN SELECT * FROM payments")[0]["fields"][0]


def test_an_unknown_connector_is_refused(gateway: Gateway) -> None:
    # Shows that the EXPLAIN above really looks the factory up.
    gateway.run("CREATE TEMPORARY TABLE nope (id INT) WITH ('connector' = 'no-such-connector')")
    with pytest.raises(AssertionError, match="no-such-connector"):
        gateway.run("EXPLAIN SELECT * FROM nope")


def test_down_stops_every_process(stack: Stack) -> None:
    assert sorted(stack.pids) == sorted(
        [devstack.JOBMANAGER, devstack.TASKMANAGER, devstack.SQL_GATEWAY]
    )
    assert all(_alive(pid) for pid in stack.pids.values())
    stopped = stack.dev.down()
    assert stopped == [devstack.SQL_GATEWAY, devstack.TASKMANAGER, devstack.JOBMANAGER]
    assert not any(_alive(pid) for pid in stack.pids.values())
    assert not (stack.dev.state_dir / "env").exists()
    assert {state.state for state in stack.dev.status()} == {"stopped"}
