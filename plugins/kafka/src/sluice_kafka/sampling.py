"""Bounded reads of a topic for sample tests: the latest N records or a time window.

:func:`read_sample` captures every partition's high watermark first and reads up to it, never
past: records produced while the test runs are not part of the sample, so a busy topic cannot
keep a test reading forever. Where the read starts:

* ``latest N`` (the default): at ``max(low, high - N)`` of each partition. With
  ``per_partition`` off, N is the number of records over all partitions: each partition is
  read from ``high - N`` and the N newest records (by Kafka timestamp) are kept.
* ``window``: at the first offset whose timestamp is at most ``window`` old
  (``offsets_for_times``); a cap of N per partition applies only when one is given.

The read stops when every partition reached its captured end, or at ``timeout`` seconds; then
:attr:`Sample.complete` is False and :attr:`Sample.missing` says how many records were not read.
Nothing is committed: the consumer assigns partitions itself and its group id is never used to
store offsets.
"""

from __future__ import annotations

import time
import uuid
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from confluent_kafka import Consumer, KafkaException, Message, TopicPartition

from sluice.errors import RemoteError
from sluice.memory import collector_paused

BATCH = 10_000  # messages asked for per consume() call


@dataclass(frozen=True)
class Bounds:
    """Which records of a topic a sample holds."""

    max_records: int | None = 1000  # per partition (or in all, without per_partition)
    per_partition: bool = True
    window_ms: int | None = None


@dataclass
class Sample:
    """The records read, as the consumer's messages (read lazily: most are only decoded)."""

    topic: str
    messages: list[Message] = field(default_factory=list)
    # partition -> (first offset read, end offset captured at the start)
    ranges: dict[int, tuple[int, int]] = field(default_factory=dict)
    missing: int = 0  # records between the start and the captured ends that were not read
    seconds: float = 0.0

    @property
    def complete(self) -> bool:
        return self.missing == 0

    @property
    def expected(self) -> int:
        return sum(end - start for start, end in self.ranges.values())


def consumer_config(base: Mapping[str, Any]) -> dict[str, Any]:
    """librdkafka settings of a sample reader on top of the cluster's client settings."""
    return {
        **base,
        "group.id": f"sluice-sample-{uuid.uuid4().hex[:12]}",
        "enable.auto.commit": False,
        "enable.auto.offset.store": False,
        "auto.offset.reset": "earliest",  # an offset gone by retention: start at the oldest
        "enable.partition.eof": False,
        "fetch.wait.max.ms": 100,
        # Prefetch the whole sample: with librdkafka's defaults the fetcher pauses for a full
        # second (fetch.queue.backoff.ms) whenever 100,000 records wait unread, which took
        # most of the time of a large read. The bytes cap still bounds the memory.
        "queued.min.messages": 10_000_000,
        "queued.max.messages.kbytes": 262144,
        "fetch.queue.backoff.ms": 20,
    }


def read_sample(
    base_config: Mapping[str, Any],
    topic: str,
    bounds: Bounds,
    timeout: float = 30.0,
    now_ms: int | None = None,
    on_batch: Callable[[list[Message]], None] | None = None,
) -> Sample:
    """Read the records ``bounds`` names from ``topic``; see the module's text.

    ``on_batch`` is handed the records of the sample, each once, in their order: batch by
    batch as they are read (decoding them then overlaps librdkafka's fetching of the next),
    or all at once at the end when the newest N of all partitions are kept, which only the
    end tells."""
    started = time.monotonic()
    deadline = started + timeout
    # N of all partitions: only the end of the read tells which are the newest N
    over_all = not bounds.per_partition and bounds.window_ms is None
    newest = bounds.max_records if over_all else None
    consumer = Consumer(consumer_config(base_config))
    try:
        ranges = _plan(consumer, topic, bounds, deadline, now_ms)
        sample = Sample(topic, ranges=ranges)
        with collector_paused():  # it would traverse every message kept, again and again
            read_ranges(consumer, sample, deadline, on_batch if newest is None else None)
    finally:
        consumer.close()
    if newest is not None:
        _keep_newest(sample, newest)
        if on_batch is not None and sample.messages:
            with collector_paused():
                on_batch(sample.messages)
    sample.seconds = time.monotonic() - started
    return sample


def _remaining(deadline: float) -> float:
    return max(0.1, deadline - time.monotonic())


def _plan(
    consumer: Consumer, topic: str, bounds: Bounds, deadline: float, now_ms: int | None
) -> dict[int, tuple[int, int]]:
    """partition -> (start, end) offsets, the end being the high watermark right now."""
    ranges: dict[int, tuple[int, int]] = {}
    for partition, (low, high) in watermarks(consumer, topic, deadline).items():
        start = low if bounds.max_records is None else max(low, high - bounds.max_records)
        ranges[partition] = (start, high)
    if bounds.window_ms is not None:
        since = (now_ms if now_ms is not None else int(time.time() * 1000)) - bounds.window_ms
        asked = [TopicPartition(topic, p, since) for p in ranges]
        try:
            found = consumer.offsets_for_times(asked, timeout=_remaining(deadline))
        except KafkaException as exc:
            raise RemoteError(f"cannot look up offsets by time in '{topic}': {exc}") from exc
        for tp in found:
            start, end = ranges[tp.partition]
            # -1: no record at or after that time; the window is empty
            first = end if tp.offset < 0 else tp.offset
            ranges[tp.partition] = (max(start, min(first, end)), end)
    return ranges


def watermarks(consumer: Consumer, topic: str, deadline: float) -> dict[int, tuple[int, int]]:
    """partition -> (low, high) watermark offsets of ``topic`` right now."""
    try:
        metadata = consumer.list_topics(topic, timeout=_remaining(deadline))
    except KafkaException as exc:
        raise RemoteError(f"cannot read the metadata of topic '{topic}': {exc}") from exc
    described = metadata.topics.get(topic)
    if described is None or described.error is not None or not described.partitions:
        reason = f": {described.error.str()}" if described and described.error else ""
        raise RemoteError(
            f"topic '{topic}' does not exist{reason}",
            hint="run `sluice apply` (or check the source's topic name)",
        )
    marks: dict[int, tuple[int, int]] = {}
    for partition in sorted(described.partitions):
        try:
            found = consumer.get_watermark_offsets(
                TopicPartition(topic, partition), timeout=_remaining(deadline)
            )
        except KafkaException as exc:
            raise RemoteError(
                f"cannot read the offsets of {topic}[{partition}]: {exc}",
                hint="the principal needs DESCRIBE and READ on the topic",
            ) from exc
        if found is None:
            raise RemoteError(f"reading the offsets of {topic}[{partition}] timed out")
        marks[partition] = found
    return marks


def read_ranges(
    consumer: Consumer,
    sample: Sample,
    deadline: float,
    on_batch: Callable[[list[Message]], None] | None = None,
) -> None:
    """Read ``sample.ranges`` (partition -> [start, end) offsets) into ``sample.messages``
    until every partition reached its end or ``deadline``; count what was not read.
    ``on_batch`` is handed each batch kept as soon as it is read."""
    topic = sample.topic
    ends = {p: end for p, (start, end) in sample.ranges.items() if end > start}
    if not ends:
        return
    consumer.assign([TopicPartition(topic, p, sample.ranges[p][0]) for p in ends])
    kept = sample.messages
    open_parts = dict(ends)
    while open_parts:
        left = deadline - time.monotonic()
        if left <= 0:
            break
        batch = consumer.consume(BATCH, timeout=min(left, 0.5))
        if not batch:
            _close_finished(consumer, topic, open_parts)
            continue
        if any(map(Message.error, batch)):  # an error is truthy, None is not
            batch = without_errors(batch, topic)
        # The positions (next offset per partition) say whether this batch went past a
        # captured end; only then is it filtered record by record. Most batches are not.
        positions = _positions(consumer, topic, open_parts)
        if any(positions.get(p, 0) > end for p, end in open_parts.items()):
            batch = [
                m
                for m in batch
                if (m.offset() or 0) < open_parts.get(m.partition(), -1)  # type: ignore[arg-type]
            ]
        kept.extend(batch)
        if on_batch is not None and batch:
            handed = time.monotonic()
            on_batch(batch)
            deadline += time.monotonic() - handed  # the timeout bounds reading, not checking
        for partition, position in positions.items():
            if position >= open_parts[partition]:
                del open_parts[partition]
    if not open_parts:
        return
    # only the open partitions can have records not read (gaps are not "missing")
    read = Counter(map(Message.partition, kept))
    sample.missing = sum(
        max(0, end - sample.ranges[p][0] - read[p]) for p, end in open_parts.items()
    )


def without_errors(batch: list[Message], topic: str) -> list[Message]:
    """The messages of ``batch`` that are records (a fatal error is a :class:`RemoteError`)."""
    for message in batch:
        error = message.error()
        if error is not None and error.fatal():
            raise RemoteError(f"reading topic '{topic}' failed: {error.str()}")
    return [m for m in batch if m.error() is None]


def _positions(consumer: Consumer, topic: str, open_parts: Mapping[int, int]) -> dict[int, int]:
    """partition -> the next offset the consumer returns (it read everything before it);
    partitions without a position yet are left out."""
    try:
        found = consumer.position([TopicPartition(topic, p) for p in open_parts])
    except KafkaException:
        return {}
    return {tp.partition: tp.offset for tp in found if tp.offset >= 0}


def _close_finished(consumer: Consumer, topic: str, open_parts: dict[int, int]) -> None:
    """Gaps (compaction, transaction markers) can keep a partition's last offset from coming:
    its position tells whether it is over."""
    for partition, position in _positions(consumer, topic, open_parts).items():
        if position >= open_parts[partition]:
            del open_parts[partition]


def _keep_newest(sample: Sample, count: int) -> None:
    if len(sample.messages) <= count:
        return

    def order(message: Message) -> tuple[int, int, int]:
        _, stamp = message.timestamp()
        return (stamp, message.partition() or 0, message.offset() or 0)

    newest = sorted(sample.messages, key=order)[-count:]
    newest.sort(key=lambda m: (m.partition() or 0, m.offset() or 0))
    sample.messages = newest
