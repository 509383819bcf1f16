"""``sluice test --watch`` in the engine: continuous tests watched all at once, for a bounded
time, ended early by Ctrl-C; without --watch, a continuous test compiled without a stream job
is an error that says how to run it. The plugins are stand-ins here; the Kafka plugin's watch
is in tests/plugins/kafka/test_watch.py."""

from __future__ import annotations

import os
import signal
import threading
import time
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import pytest

from sluice.capabilities import Capabilities
from sluice.engine import run_tests, watch_tests
from sluice.nodes import Node
from sluice.plugin.api import TestResult as Result
from sluice.runtime import Watch


def continuous_node(name: str, topic: str | None = None) -> Node:
    spec = SimpleNamespace(type="continuous", on_failure="error")
    return Node(f"test.{name}", name, "test", spec, "tests/t.yml", 1, ("source.s",), topic=topic)


@dataclass
class Context:
    """What the engine reads from a run context."""

    nodes: dict[str, Node]
    capabilities: Capabilities = field(default_factory=lambda: Capabilities({}, "probed"))
    watch: Watch | None = None
    lines: list[str] = field(default_factory=list)

    @property
    def manifest(self) -> Any:
        return SimpleNamespace(nodes=self.nodes)

    def echo(self, text: str) -> None:
        self.lines.append(text)


class Watcher:
    """Stands for a plugin that checks continuous tests in process: it reads until the watch
    is over, then passes, saying how long it watched."""

    def run_test(self, test: Node, context: Any) -> Result | None:
        watch = context.watch
        if watch is None:
            return Result(test.unique_id, "pass", "sampled")
        while watch.left() > 0:
            time.sleep(0.01)
        stopped = " (stopped)" if watch.stop.is_set() else ""
        return Result(test.unique_id, "pass", f"watched {watch.elapsed():.1f}s{stopped}")

    def test_types(self) -> dict[str, list[str]]:
        return {"continuous": ["watcher"]}

    def config_sections(self) -> list[Any]:
        return []


def test_continuous_tests_are_watched_at_once_for_the_duration() -> None:
    nodes = {n.unique_id: n for n in (continuous_node(f"t{i}") for i in range(4))}
    context = Context(nodes)
    watcher = Watcher()
    started = time.monotonic()
    results = watch_tests(watcher, list(nodes), context, 0.5)  # type: ignore[arg-type]
    took = time.monotonic() - started
    assert 0.5 <= took < 1.5, took  # about the duration, not four times it
    assert [r.test for r in results] == list(nodes)
    assert {r.message for r in results} == {"watched 0.5s"}
    assert context.watch is None  # the watch belongs to a copy of the context
    assert len(context.lines) == 4 and context.lines[0].startswith("PASS  t")


def test_ctrl_c_ends_the_watch_with_the_results_so_far() -> None:
    nodes = {n.unique_id: n for n in (continuous_node(f"t{i}") for i in range(2))}
    context = Context(nodes)
    threading.Timer(0.3, os.kill, (os.getpid(), signal.SIGINT)).start()  # Ctrl-C
    started = time.monotonic()
    results = watch_tests(Watcher(), list(nodes), context, 30)  # type: ignore[arg-type]
    assert time.monotonic() - started < 5
    assert [r.status for r in results] == ["pass", "pass"]
    assert all(r.message.endswith("(stopped)") for r in results)
    assert context.lines[0].startswith("watch ended by Ctrl-C after 0.")


def test_without_watch_a_continuous_test_without_a_job_says_how_to_run_it() -> None:
    unjobbed = continuous_node("quality")  # compiled without stream_jobs: no topic
    jobbed = continuous_node("deployed", topic="_sluice_violations.p.deployed")
    context = Context({unjobbed.unique_id: unjobbed, jobbed.unique_id: jobbed})
    first, second = run_tests(Watcher(), [unjobbed.unique_id, jobbed.unique_id], context)  # type: ignore[arg-type]
    assert first.status == "error"
    assert first.message == (
        "a continuous test runs as a stream job, and no plugin provides stream_jobs here: run "
        "`sluice test --watch 30s` to check the records arriving for 30s in process, or pip "
        "install sluice-flink and configure runtime.flink"
    )
    assert (second.status, second.message) == ("pass", "sampled")  # its job's plugin answers


def test_a_watch_is_over_after_its_seconds_or_once_stopped() -> None:
    watch = Watch(10)
    assert 9 < watch.left() <= 10
    watch.stop.set()
    assert watch.left() == 0
    assert Watch(0.0).left() == 0


@pytest.mark.parametrize(
    ("value", "message"),
    [("soon", "'soon' is not a duration"), ("0s", "give a duration above zero")],
)
def test_a_bad_watch_duration_is_a_usage_error(
    sluice_project: Any, value: str, message: str
) -> None:
    project = sluice_project({"stream_project.yml": "project: { name: p }\n"})
    result = project.run("test", "--watch", value)
    assert result.exit_code == 2, result.output
    assert "Invalid value for '--watch'" in result.output and message in result.output
