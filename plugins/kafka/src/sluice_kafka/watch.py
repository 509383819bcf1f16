"""``sluice test --watch``: continuous tests checked in process, for a bounded time.

While the watch runs (``context.watch``), each continuous test gets a consumer of its node's
topic of its own (through the proxy that serves the topic, as sample tests read it). The
consumer starts at the end of every partition, as captured when it starts: it checks the
records that arrive while the watch runs, never those already there (a sample test checks
those). When the watch is over it still reads up to the end offsets of that moment, so a
record produced during the watch is checked even when it is fetched a little later; the
test's ``sample: {timeout}`` bounds that catching up (and reading the topic's offsets at the
start). Ctrl-C skips it. Nothing is committed: partitions are assigned, never subscribed.

Each batch is decoded and checked as sample tests do it (by
:class:`~sluice_kafka.sample_test.Decoded` and the checks of :mod:`sluice_kafka.assertions`)
and counted by :class:`~sluice_kafka.sample_test.Findings`, so the result reads like a sample
test's: the failures counted, the first offending records listed, their sensitive columns
masked. The compiler refuses the assertions that compare records with each other or with the
clock in continuous tests, so checking batch by batch loses nothing.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from confluent_kafka import Consumer, TopicPartition

from sluice.errors import SluiceError
from sluice.nodes import Node
from sluice.plugin.api import TestResult
from sluice.project.schema import parse_duration_ms
from sluice.runtime import RunContext, Watch
from sluice_kafka.sample_test import Decoded, Findings, Reader, prepare
from sluice_kafka.sampling import (
    BATCH,
    Sample,
    consumer_config,
    read_ranges,
    watermarks,
    without_errors,
)

TEST_TYPE = "continuous"
POLL = 0.5  # seconds one poll may wait, so the end of the watch (or Ctrl-C) is seen soon


def run(test: Node, context: RunContext) -> TestResult | None:
    """The result of watching one continuous test, or None when no watch runs, the test is
    of another type, or the run has no ``runtime.kafka``."""
    watch = getattr(context, "watch", None)
    if watch is None or getattr(test.spec, "type", None) != TEST_TYPE:
        return None
    reader = prepare(test, context)
    if not isinstance(reader, Reader):
        return reader
    topic = reader.node.topic
    assert topic is not None  # prepare() checked it

    def started(partitions: int) -> None:
        context.echo(
            f"WATCH {test.name}: checking the records arriving in '{topic}' "
            f"({_plural(partitions, 'partition')}) for {watch.seconds:g}s"
        )

    findings = Findings()
    now_ms = int(time.time() * 1000)

    def check(batch: list[Any]) -> None:
        findings.check(Decoded.of(batch, reader.decode), reader.checks, now_ms, reader.hidden)

    timeout = parse_duration_ms(test.spec.sample.timeout) / 1000
    try:
        missed = watch_topic(reader.config, topic, watch, timeout, check, started)
    except SluiceError as exc:
        return TestResult(test.unique_id, "error", exc.render())
    if watch.stop.is_set():
        scope = f"that arrived in '{topic}' in {watch.elapsed():.1f}s (the watch ended by Ctrl-C)"
    else:
        scope = f"that arrived in '{topic}' in {watch.seconds:g}s"
    result = findings.result(test.unique_id, len(reader.checks), scope)
    if not missed:
        return result
    note = (
        f"; {_plural(missed, 'record')} that arrived before the end were not read within "
        f"{timeout:g}s, raise the test's sample: {{timeout: ...}}"
    )
    return replace(result, message=result.message + note)


def watch_topic(
    config: dict[str, Any],
    topic: str,
    watch: Watch,
    timeout: float,
    check: Callable[[list[Any]], None],
    started: Callable[[int], None],
) -> int:
    """Hand every record that arrives in ``topic`` during ``watch`` to ``check``, batch by
    batch; ``started`` is told the number of partitions once their ends are captured. The
    number of records that arrived during the watch but were not read within ``timeout``
    after it is returned."""
    consumer = Consumer(consumer_config(config))
    try:
        marks = watermarks(consumer, topic, time.monotonic() + timeout)
        ends = {partition: high for partition, (_, high) in marks.items()}
        consumer.assign([TopicPartition(topic, p, offset) for p, offset in ends.items()])
        started(len(ends))
        while (left := watch.left()) > 0:
            batch = consumer.consume(BATCH, timeout=min(left, POLL))
            if any([m.error() is not None for m in batch]):
                batch = without_errors(batch, topic)
            if batch:
                check(batch)
        if watch.stop.is_set():
            return 0
        return _catch_up(consumer, topic, ends, time.monotonic() + timeout, check)
    finally:
        consumer.close()


def _catch_up(
    consumer: Consumer,
    topic: str,
    starts: dict[int, int],
    deadline: float,
    check: Callable[[list[Any]], None],
) -> int:
    """Read from where the watch stopped up to the end offsets of now; the records not read
    by ``deadline`` are counted, not waited for."""
    read = {
        tp.partition: tp.offset
        for tp in consumer.position([TopicPartition(topic, p) for p in starts])
        if tp.offset >= 0
    }
    ends = watermarks(consumer, topic, deadline)
    ranges = {p: (read.get(p, start), ends[p][1]) for p, start in starts.items() if p in ends}
    rest = Sample(topic, ranges=ranges)
    read_ranges(consumer, rest, deadline)
    if rest.messages:
        check(rest.messages)
    return rest.missing


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'s' if count != 1 else ''}"
