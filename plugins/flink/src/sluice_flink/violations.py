"""``sluice test`` of a continuous test: is its job checking, and what did it find lately.

First the job: ``sluice.<project>.test.<test>`` must be RUNNING with the spec hash of the
compiled test; a missing, failed or outdated job makes the result an error (with Flink's root
exception when it failed), since no violations would then mean nothing.

Then the window: the violations the job wrote in the last ``sample.window`` (default
:data:`DEFAULT_WINDOW`) before the run, found by their Kafka timestamps (the time the job
wrote them) with ``offsets_for_times``, and read up to the end offsets captured at the start,
within ``sample.timeout``. Nothing is committed: each run reads the same window again, so two
runs a minute apart report the same violations. Only violations of the checks the project
holds now count (each carries the version of the checks that found it); older ones are
mentioned, not counted. No violations: pass; else a failure (a warning with
``on_failure: warn``) with the count per assertion and the first violations.

The records in violations come masked from the job (see :mod:`sluice_flink.continuous`).
"""

from __future__ import annotations

import json
import time
import uuid
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sluice.errors import RemoteError, SluiceError
from sluice.nodes import Node
from sluice.plugin.api import Artifact, TestResult
from sluice.project.schema import parse_duration_ms
from sluice.project.variables import secret_values
from sluice.runtime import RunContext, kafka_client_settings
from sluice_flink.client import FlinkRest
from sluice_flink.config import FlinkConfig
from sluice_flink.continuous import TEST_TYPE
from sluice_flink.planner import HASH_KEY, current_jobs

DEFAULT_WINDOW = "1h"
MAX_DETAILS = 100  # violations listed in the result's details
IN_MESSAGE = 3  # violations named in its message
VALUE_SHOWN = 200  # characters of a record shown


def run_test(test: Node, context: RunContext) -> TestResult | None:
    """The result of a continuous test, or None for tests of another type and while
    ``sluice test --watch`` runs (it checks continuous tests in process, its explicit ask)."""
    if getattr(test.spec, "type", None) != TEST_TYPE or getattr(context, "watch", None):
        return None
    try:
        return _run(test, context)
    except SluiceError as exc:
        return TestResult(test.unique_id, "error", exc.render())


def _run(test: Node, context: RunContext) -> TestResult:
    uid = test.unique_id
    config = context.runtime.get("flink")
    job = next(
        (
            a
            for a in context.manifest.artifacts.get(uid, ())
            if (a.plugin, a.kind) == ("flink", "job")
        ),
        None,
    )
    if not isinstance(config, FlinkConfig) or job is None or test.topic is None:
        return TestResult(
            uid, "error", "a continuous test runs as a Flink job; configure runtime.flink"
        )
    problem = job_problem(config, job, context)
    if problem is not None:
        return TestResult(uid, "error", problem)
    window = test.spec.sample.window or DEFAULT_WINDOW
    since_ms = int(time.time() * 1000) - parse_duration_ms(window)
    timeout = parse_duration_ms(test.spec.sample.timeout) / 1000
    found = read_violations(client_settings(context.runtime), test.topic, since_ms, timeout)
    version = str(job.spec.get("checks_version", ""))
    return summarize(uid, found, f"the last {window}", version)


def job_problem(config: FlinkConfig, job: Artifact, context: RunContext) -> str | None:
    """Why the test's job cannot be trusted to have checked the records, or None."""
    with FlinkRest(config.rest_url, secrets=secret_values(context.runtime.values())) as rest:
        live = current_jobs(rest.jobs()).get(job.name)
        if live is None:
            return f"its Flink job {job.name} is not running; run `sluice apply`"
        job_id, state = str(live["jid"]), str(live.get("state"))
        if state != "RUNNING":
            cause = rest.root_exception(job_id) if state in ("FAILED", "RESTARTING") else None
            because = f": {cause.splitlines()[0]}" if cause else ""
            return f"its Flink job {job.name} ({job_id}) is {state}{because}; see `sluice status`"
        if rest.user_config(job_id).get(HASH_KEY) != job.spec.get("spec_hash"):
            return (
                f"its Flink job {job.name} checks an older version of this test; "
                "run `sluice apply` to upgrade it"
            )
    return None


def client_settings(runtime: Mapping[str, Any]) -> dict[str, str]:
    """librdkafka settings of the cluster of ``runtime.kafka`` (read by attribute)."""
    kafka = runtime.get("kafka")
    if kafka is None:
        raise RemoteError("reading a continuous test's violations needs runtime.kafka")
    return kafka_client_settings(kafka)


# -- reading ----------------------------------------------------------------------------------


@dataclass
class Found:
    """The violations of a window: each as (partition, offset, decoded value)."""

    topic: str
    violations: list[tuple[int, int, Any]] = field(default_factory=list)
    missing: int = 0  # records in the window not read within the timeout


def read_violations(
    settings: Mapping[str, str], topic: str, since_ms: int, timeout: float
) -> Found:
    """Every violation of ``topic`` written at or after ``since_ms``, up to the end offsets
    of the moment the read starts."""
    from confluent_kafka import Consumer

    deadline = time.monotonic() + timeout
    consumer = Consumer(
        {
            **settings,
            "group.id": f"sluice-test-{uuid.uuid4().hex[:12]}",  # never committed
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
            "log_level": 0,
        }
    )
    try:
        ranges = _window(consumer, topic, since_ms, deadline)
        return _consume(consumer, topic, ranges, deadline)
    finally:
        consumer.close()


def _left(deadline: float) -> float:
    return max(0.1, deadline - time.monotonic())


def _window(
    consumer: Any, topic: str, since_ms: int, deadline: float
) -> dict[int, tuple[int, int]]:
    """partition -> (first offset in the window, end offset now)."""
    from confluent_kafka import KafkaException, TopicPartition

    try:
        described = consumer.list_topics(topic, timeout=_left(deadline)).topics.get(topic)
        if described is None or described.error is not None or not described.partitions:
            raise RemoteError(
                f"the violations topic '{topic}' does not exist",
                hint="run `sluice apply`, which creates it with the test's job",
            )
        partitions = sorted(described.partitions)
        ends = {
            p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=_left(deadline))[1]
            for p in partitions
        }
        asked = [TopicPartition(topic, p, since_ms) for p in partitions]
        starts = consumer.offsets_for_times(asked, timeout=_left(deadline))
    except KafkaException as exc:
        raise RemoteError(
            f"cannot read the offsets of the violations topic '{topic}': {exc}"
        ) from exc
    # offset -1: nothing written since then, the window of that partition is empty
    return {
        tp.partition: (ends[tp.partition] if tp.offset < 0 else tp.offset, ends[tp.partition])
        for tp in starts
    }


def _consume(
    consumer: Any, topic: str, ranges: Mapping[int, tuple[int, int]], deadline: float
) -> Found:
    from confluent_kafka import TopicPartition

    found = Found(topic)
    open_ends = {p: end for p, (start, end) in ranges.items() if end > start}
    if not open_ends:
        return found
    consumer.assign([TopicPartition(topic, p, ranges[p][0]) for p in open_ends])
    while open_ends and time.monotonic() < deadline:
        for message in consumer.consume(1000, timeout=min(0.5, _left(deadline))):
            partition, offset = message.partition(), message.offset()
            if message.error() is not None or partition not in open_ends:
                continue
            if offset < open_ends[partition]:
                found.violations.append((partition, offset, _decoded(message.value())))
        for tp in consumer.position([TopicPartition(topic, p) for p in open_ends]):
            if tp.offset >= open_ends.get(tp.partition, 0):
                del open_ends[tp.partition]
    read = Counter(p for p, _, _ in found.violations)
    found.missing = sum(end - ranges[p][0] - read[p] for p, end in open_ends.items())
    return found


def _decoded(raw: bytes | None) -> Any:
    if raw is None:
        return None
    try:
        return json.loads(raw)
    except ValueError:
        return {"reason": "not a violation record", "record": raw.decode("utf-8", "replace")}


# -- the result -------------------------------------------------------------------------------


def summarize(uid: str, found: Found, window: str, version: str) -> TestResult:
    """Pass without violations of the current checks (``version``); else fail, naming the
    count per assertion and the first few."""
    read = len(found.violations)
    if found.missing:
        return TestResult(
            uid,
            "error",
            f"read {read} of the {read + found.missing} violations of {window} in "
            f"'{found.topic}' before the timeout; raise the test's sample: {{timeout: ...}}",
        )
    current = [(p, o, v) for p, o, v in found.violations if _version(v) == version]
    count = len(current)
    older = read - count
    note = (
        f"; {older} older violation{'s' if older != 1 else ''} found by an earlier version of "
        "the test not counted"
        if older
        else ""
    )
    if count == 0:
        return TestResult(uid, "pass", f"no violations in {window} ('{found.topic}'){note}")
    # in the order of the checked records (the job writes each check's violations apart)
    every = sorted((_detail(p, o, v) for p, o, v in current), key=_record_order)
    details = every[:MAX_DETAILS]
    per = Counter(str(d["assertion"]) for d in every)
    counts = ", ".join(f"{label} {n}" for label, n in sorted(per.items()))
    named = "; ".join(_named(d) for d in details[:IN_MESSAGE])
    more = count - IN_MESSAGE
    message = f"{count} violation{'s' if count != 1 else ''} in {window} ({counts}): {named}" + (
        f"; and {more} more" if more > 0 else ""
    )
    return TestResult(uid, "fail", message + note, count, details)


def _record_order(detail: Mapping[str, Any]) -> tuple[int, int, str]:
    partition, offset = detail["partition"], detail["offset"]
    if not isinstance(partition, int) or not isinstance(offset, int):
        return (1 << 31, 0, detail["violation"])
    return (partition, offset, detail["violation"])


def _version(value: Any) -> Any:
    return value.get("version") if isinstance(value, Mapping) else None


def _detail(partition: int, offset: int, value: Any) -> dict[str, Any]:
    """A violation as the details of a result: where the checked record was, and why."""
    data = value if isinstance(value, Mapping) else {}
    record = data.get("record")
    return {
        "partition": data.get("partition"),
        "offset": data.get("offset"),
        "value": _cut(record) if isinstance(record, str) else None,
        "assertion": data.get("assertion", "?"),
        "reason": data.get("reason", "?"),
        "event_time": data.get("event_time"),
        "processed_at": data.get("processed_at"),
        "violation": f"{partition}:{offset}",
    }


def _named(detail: Mapping[str, Any]) -> str:
    where = ""
    if detail["partition"] is not None:
        where = f" (partition {detail['partition']}, offset {detail['offset']})"
    return f"{detail['assertion']}: {detail['reason']}{where}"


def _cut(text: str) -> str:
    return text if len(text) <= VALUE_SHOWN else text[: VALUE_SHOWN - 3] + "..."
