"""``sluice test --watch``: continuous tests checked in process, with sluice-kafka alone.

Given a project with only sluice-core and sluice-kafka, a continuous test compiles to nothing
(no job, no violations topic); plain ``sluice test`` says how to run it; ``sluice test --watch``
checks the records that arrive while it runs, as a user sees it in a terminal (the CLI runs as
a process of its own, its output read line by line, records produced once it watches).
"""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
from importlib_metadata import entry_points

from sluice.testing import SluiceProject, local_stack
from sluice_kafka.assertions import build
from sluice_kafka.sample_test import Decoded, Findings, decode_json

Make = Callable[[Mapping[str, str]], SluiceProject]

KAFKA_ONLY = {
    "SLUICE_DISABLE_PLUGINS": ",".join(
        sorted({ep.name for ep in entry_points(group="sluice")} - {"kafka"})
    )
}
CARD = "4111 1111 1111 1111"  # a pii column's value that must never be shown


def project_text(name: str, topic: str) -> str:
    return f"""
project: {{ name: {name} }}
runtime:
  kafka: {{ bootstrap_servers: "${{KAFKA_BOOTSTRAP}}" }}
sources:
  - name: payments
    topic: {topic}
    columns:
      - {{ name: id, type: STRING }}
      - {{ name: card, type: STRING, classification: pii }}
      - {{ name: amount, type: INT }}
tests:
  - name: payments_ok
    model: payments
    type: continuous
    assertions:
      - not_null: {{ columns: [id] }}
      - range: {{ column: amount, min: 0 }}
      - matches: {{ column: card, pattern: "^[0-9]{{4}}$" }}
  - name: ids_present
    model: payments
    type: continuous
    assertions:
      - not_null: {{ columns: [id] }}
  - name: has_rows
    model: payments
    assertions:
      - row_count: {{ min: 1 }}
"""


# -- offline ----------------------------------------------------------------------------------


def test_with_kafka_alone_a_continuous_test_compiles_to_nothing(sluice_project: Make) -> None:
    project = sluice_project({"stream_project.yml": project_text("w", "w.payments")})
    env = {**KAFKA_ONLY, "KAFKA_BOOTSTRAP": "localhost:1"}
    result = project.run("compile", env=env)
    assert result.exit_code == 0, result.output
    nodes = project.manifest()["nodes"]
    assert nodes["test.payments_ok"]["artifacts"] == []  # no violations topic, no job
    assert nodes["test.payments_ok"].get("topic") is None


def test_a_continuous_test_refuses_assertions_across_records(sluice_project: Make) -> None:
    text = project_text("w", "w.payments").replace(
        "      - not_null: { columns: [id] }\n  - name: has_rows",
        "      - unique: { columns: [id] }\n  - name: has_rows",
    )
    project = sluice_project({"stream_project.yml": text})
    result = project.run("compile", env={**KAFKA_ONLY, "KAFKA_BOOTSTRAP": "localhost:1"})
    assert result.exit_code != 0
    assert result.output == (
        "error: stream_project.yml:23:9: test 'ids_present': a continuous test checks one "
        "record at a time, and unique compares records with each other\n"
        "  hint: move unique to a test with type: sample\n"
    )


class Message:
    """A consumed record, as the checks read it."""

    def __init__(self, offset: int, value: Any) -> None:
        self._offset, self._value = offset, json.dumps(value).encode()

    def value(self) -> bytes:
        return self._value

    def partition(self) -> int:
        return 0

    def offset(self) -> int:
        return self._offset

    def timestamp(self) -> tuple[int, int]:
        return (1, 0)


def test_findings_add_up_batches_and_mask_hidden_columns() -> None:
    checks = [
        build({"not_null": {"columns": ["id"]}}),
        build({"accepted_values": {"column": "card", "values": ["1234"]}}),
        build({"expression": {"sql": "UPPER(card) = '1234'"}}),
    ]
    findings = Findings()
    hidden = frozenset({"card"})
    for batch in (
        [Message(0, {"id": "a", "card": "1234"})],
        [Message(1, {"id": None, "card": CARD})],
    ):
        findings.check(Decoded.of(batch, decode_json), checks, 0, hidden)
    result = findings.result("test.t", len(checks), "of 't'")
    assert (result.status, result.failures) == ("fail", 3)
    assert [d["reason"] for d in result.details] == [
        "id is null",
        'card = "***" is not one of ["1234"]',
        "false: UPPER(card) = '1234'",
    ]
    assert {d["value"] for d in result.details} == {'{"id": null, "card": "***"}'}
    assert result.message.startswith("3 failures in 2 records of 't': not_null(id)")
    assert CARD not in json.dumps([result.message, list(result.details)])


# -- against the broker -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def stack_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    with local_stack(tmp_path_factory.mktemp("stack"), ["kafka"]) as env:
        yield env


class Terminal:
    """``sluice <args>`` run as a user runs it, its output read line by line meanwhile."""

    def __init__(self, project: SluiceProject, env: Mapping[str, str], *args: str) -> None:
        command = [sys.executable, "-c", "from sluice.cli.main import main; main()", *args]
        self.process = subprocess.Popen(
            command,
            cwd=project.path,
            env={**os.environ, **env, "PYTHONUNBUFFERED": "1"},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.started = time.monotonic()
        self.lines: list[str] = []
        self._queue: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self._queue.put(line)
        self._queue.put(None)

    def wait_for(self, prefix: str, count: int = 1, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while sum(line.startswith(prefix) for line in self.lines) < count:
            line = self._queue.get(timeout=max(0.1, deadline - time.monotonic()))
            assert line is not None, "".join(self.lines)
            self.lines.append(line)

    def finish(self, timeout: float = 60) -> tuple[int, str, float]:
        """Exit code, the whole output, and seconds since the start."""
        code = self.process.wait(timeout=timeout)
        seconds = time.monotonic() - self.started
        while (line := self._queue.get(timeout=10)) is not None:
            self.lines.append(line)
        return code, "".join(self.lines), seconds


class Story:
    def __init__(self, make: Make, env: dict[str, str]) -> None:
        from sluice_kafka.testing import create_topics

        name = f"watch-{uuid.uuid4().hex[:8]}"
        self.topic = f"{name}.payments"
        self.env = {**env, **KAFKA_ONLY}
        create_topics(env["KAFKA_BOOTSTRAP"], self.topic, partitions=2)
        self.project = make({"stream_project.yml": project_text(name, self.topic)})

    def produce(self, *rows: Mapping[str, Any]) -> None:
        """Into partition 0, in order (so the offsets are known)."""
        from confluent_kafka import Producer

        producer = Producer(
            {"bootstrap.servers": self.env["KAFKA_BOOTSTRAP"], "enable.idempotence": True}
        )
        for row in rows:
            producer.produce(self.topic, json.dumps(row).encode(), partition=0)
        assert producer.flush(30) == 0

    def watch(self, duration: str, *args: str) -> Terminal:
        return Terminal(self.project, self.env, "test", "--watch", duration, *args)

    def results(self) -> dict[str, Any]:
        data = json.loads((self.project.path / "target" / "run_results.json").read_text())
        return {row["node"]: row for row in data["results"]}


@pytest.fixture
def story(sluice_project: Make, stack_env: dict[str, str]) -> Story:
    return Story(sluice_project, stack_env)


GOOD = {"id": "p-1", "card": "1234", "amount": 10}


@pytest.mark.integration
def test_watch_checks_the_records_arriving_meanwhile(story: Story, tmp_path: Path) -> None:
    story.produce({"id": None, "card": "0000", "amount": -1})  # offset 0: before the watch

    plain = story.project.run("test", env=story.env)
    assert plain.exit_code == 1, plain.output
    assert "ERROR payments_ok" in plain.output and "run `sluice test --watch 30s`" in plain.output
    assert "pip install sluice-flink and configure runtime.flink" in plain.output
    plan = story.project.run("plan", env=story.env)
    assert plan.exit_code == 0 and "No changes" in plan.output, plan.output  # nothing to deploy

    junit = tmp_path / "junit.xml"
    terminal = story.watch("10s", "--junit-xml", str(junit))
    terminal.wait_for("WATCH ", count=2)  # both tests watch, each with its consumer
    story.produce(
        GOOD,  # offset 1
        {"id": None, "card": "1234", "amount": 10},  # offset 2: id is null
        GOOD,  # offset 3
        {"id": "p-9", "card": CARD, "amount": -5},  # offset 4: amount and card
        GOOD,  # offset 5
    )
    code, output, seconds = terminal.finish()

    assert code == 1, output
    assert 10 <= seconds < 20, output  # about the duration, though two tests watched
    assert "Traceback" not in output and CARD not in output
    assert "PASS  has_rows" in output  # sample tests run as always
    line = next(line for line in output.splitlines() if line.startswith("FAIL  payments_ok ("))
    assert line.split("): ", 1)[1] == (
        f"3 failures in 5 records that arrived in '{story.topic}' in 10s: "
        "not_null(id): id is null (partition 0, offset 2); "
        "range(amount): amount = -5 is below the minimum 0 (partition 0, offset 4); "
        'matches(card): card = "***" does not match ^[0-9]{4}$ (partition 0, offset 4)'
    )
    assert "FAIL  ids_present" in output and "1 failure in 5 records" in output
    assert "test: 1 pass, 2 fail" in output

    rows = story.results()
    row = rows["test.payments_ok"]
    assert (row["status"], row["failures"]) == ("fail", 3)
    offending = [(d["partition"], d["offset"], d["assertion"]) for d in row["details"]]
    assert offending == [
        (0, 2, "not_null(id)"),
        (0, 4, "range(amount)"),
        (0, 4, "matches(card)"),
    ]
    assert json.loads(row["details"][1]["value"]) == {"id": "p-9", "card": "***", "amount": -5}
    assert CARD not in json.dumps(rows)
    suite = ET.parse(junit).getroot()
    assert (suite.get("tests"), suite.get("failures"), suite.get("errors")) == ("3", "2", "0")


@pytest.mark.integration
def test_ctrl_c_ends_the_watch_with_the_results_so_far(story: Story) -> None:
    terminal = story.watch("5m", "-s", "payments_ok")
    terminal.wait_for("WATCH ")
    story.produce(GOOD, {"id": "p-2", "card": "1234", "amount": -1})
    time.sleep(2)  # the consumer reads them
    terminal.process.send_signal(signal.SIGINT)
    code, output, seconds = terminal.finish(timeout=30)

    assert code == 1, output
    assert seconds < 60 and "Traceback" not in output, output
    assert "watch ended by Ctrl-C after " in output
    assert "FAIL  payments_ok" in output and "1 failure in 2 records" in output, output
    assert "(the watch ended by Ctrl-C)" in output
    assert story.results()["test.payments_ok"]["failures"] == 1
