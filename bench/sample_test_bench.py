"""Sample-test benchmark: a sample test's rate against a bare confluent-kafka consumer.

Produces 200,000 JSON records to a new topic, then, in the same run and alternately (best of
five each), times

* a bare consumer: assign every partition from the start, ``consume()`` in batches of 10,000,
  touch each value, stop at the high watermarks;
* the sample test: sluice-kafka's read of the latest 200,000 records per partition, JSON
  decoding and three assertions (not_null, range, accepted_values), as ``sluice test`` runs it.

It prints both rates and their ratio. Goal (issue 7): the sample test runs at no less than half
the rate of the bare consumer.

    /work/venv/bin/python bench/sample_test_bench.py            # starts a broker (DevStack)
    KAFKA_BOOTSTRAP=localhost:9092 /work/venv/bin/python bench/sample_test_bench.py
    /work/venv/bin/python bench/sample_test_bench.py 500000     # another record count
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from sluice_kafka.assertions import build
from sluice_kafka.sample_test import decode_json, evaluate
from sluice_kafka.sampling import Bounds, read_sample

PARTITIONS = 4
ROUNDS = 5
STATUSES = ("new", "paid", "shipped")


@contextmanager
def broker() -> Iterator[str]:
    given = os.environ.get("KAFKA_BOOTSTRAP")
    if given:
        yield given
        return
    from sluice.dev import DevStack
    from sluice.plugin.manager import PluginManager

    with tempfile.TemporaryDirectory(prefix="sluice-bench-") as home:
        dev = DevStack(Path(home), PluginManager().dev_services(), echo=lambda line: None)
        try:
            print("starting a local broker ...", flush=True)
            yield dev.up(["kafka"])["KAFKA_BOOTSTRAP"]
        finally:
            dev.down()


def produce(bootstrap: str, topic: str, count: int) -> None:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    for future in admin.create_topics([NewTopic(topic, PARTITIONS, 1)]).values():
        future.result(30)
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 20, "batch.size": 1_000_000})
    for i in range(count):
        row = {
            "id": f"order-{i:08d}",
            "customer": f"c-{i % 977}",
            "amount": (i * 37) % 10_000,
            "status": STATUSES[i % 3],
            "at": 1_700_000_000_000 + i,
        }
        while True:
            try:
                producer.produce(topic, json.dumps(row).encode(), partition=i % PARTITIONS)
                break
            except BufferError:
                producer.poll(0.1)
    assert producer.flush(60) == 0


def bare(bootstrap: str, topic: str) -> int:
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"bench-{uuid.uuid4().hex[:8]}",
            "enable.auto.commit": False,
            "enable.partition.eof": False,
        }
    )
    try:
        ends = {}
        for p in range(PARTITIONS):
            _low, high = consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)
            ends[p] = high
        consumer.assign([TopicPartition(topic, p, 0) for p in range(PARTITIONS)])
        wanted = sum(ends.values())
        read = 0
        while read < wanted:
            for message in consumer.consume(10_000, timeout=1.0):
                if message.error() is None:
                    message.value()
                    read += 1
        return read
    finally:
        consumer.close()


def sample_test(bootstrap: str, topic: str, count: int) -> int:
    checks = [
        build({"not_null": {"columns": ["id", "status"]}}),
        build({"range": {"column": "amount", "min": 0, "max": 10_000}}),
        build({"accepted_values": {"column": "status", "values": list(STATUSES)}}),
    ]
    sample = read_sample(
        {"bootstrap.servers": bootstrap}, topic, Bounds(max_records=count), timeout=120
    )
    assert sample.complete, sample.missing
    result = evaluate("test.bench", sample, checks, decode_json, int(time.time() * 1000))
    assert result.status == "pass", result.message
    return len(sample.messages)


def timed(run: object, *args: object) -> tuple[float, int]:
    started = time.perf_counter()
    records = run(*args)  # type: ignore[operator]
    return time.perf_counter() - started, records


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 200_000
    with broker() as bootstrap:
        topic = f"bench.sample.{uuid.uuid4().hex[:8]}"
        started = time.perf_counter()
        produce(bootstrap, topic, count)
        print(f"produced {count:,} JSON records to {topic} in {time.perf_counter() - started:.1f}s")
        bare_best = test_best = float("inf")
        for round_ in range(1, ROUNDS + 1):
            seconds, read = timed(bare, bootstrap, topic)
            assert read == count, read
            bare_best = min(bare_best, seconds)
            seconds2, checked = timed(sample_test, bootstrap, topic, count)
            assert checked == count, checked
            test_best = min(test_best, seconds2)
            print(f"round {round_}: bare {seconds:.3f}s, sample test {seconds2:.3f}s")
        bare_rate, test_rate = count / bare_best, count / test_best
        print(f"bare confluent-kafka consumer: {bare_rate:>12,.0f} records/s ({bare_best:.3f}s)")
        print(f"sample test, 3 assertions:     {test_rate:>12,.0f} records/s ({test_best:.3f}s)")
        ratio = test_rate / bare_rate
        verdict = "meets" if ratio >= 0.5 else "misses"
        print(f"ratio: {ratio:.2f} of the bare rate ({verdict} the goal of >= 0.50)")


if __name__ == "__main__":
    main()
