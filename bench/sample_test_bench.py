"""Sample-test benchmark: a sample test's rate against a bare confluent-kafka consumer.

Produces 200,000 JSON records to a new topic, then, in the same run and alternately (five
rounds), times

* a bare consumer: assign every partition from the start, ``consume()`` in batches of 10,000,
  touch each value, stop at the high watermarks;
* the sample test: sluice-kafka's read of the latest 200,000 records per partition, JSON
  decoding and three assertions (not_null, range, accepted_values), as ``sluice test`` runs it.

It prints both rates (from the least and the median time of the rounds) and their ratio, then
deletes the topic. Goal (issue 3): the sample test runs at no less than half the rate of the
bare consumer.

Both read with the same librdkafka fetch settings (:data:`FETCH`, those of sluice's sample
reader), so the ratio measures what sluice does on top of the client, not a difference of
client tuning: with librdkafka's defaults a consumer pauses a whole second
(``fetch.queue.backoff.ms``) whenever 100,000 records wait unread, in some rounds and not
others, which made the ratio swing between 0.15 and 0.5 from one run to the next.

    /work/venv/bin/python bench/sample_test_bench.py            # starts a broker (DevStack)
    KAFKA_BOOTSTRAP=localhost:9092 /work/venv/bin/python bench/sample_test_bench.py
    /work/venv/bin/python bench/sample_test_bench.py 500000     # another record count
    /work/venv/bin/python bench/sample_test_bench.py --bootstrap localhost:9092 \
        --against /tmp/sluice-before

``--against DIR`` also times the sample test of another sluice checkout (its ``core/src`` and
``plugins/*/src`` first on PYTHONPATH, e.g. after ``git archive HEAD core plugins | tar -x -C
DIR``) in each round, in a child process that times only the test itself: before/after in
one run.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
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
STATUSES = ("new", "paid", "shipped")
# librdkafka settings of both readers: those sluice_kafka.sampling.consumer_config adds
FETCH = {
    "fetch.wait.max.ms": 100,
    "queued.min.messages": 10_000_000,
    "queued.max.messages.kbytes": 262144,
    "fetch.queue.backoff.ms": 20,
}


@contextmanager
def broker(given: str | None) -> Iterator[str]:
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
            **FETCH,
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
    config, bounds = {"bootstrap.servers": bootstrap}, Bounds(max_records=count)
    now_ms = int(time.time() * 1000)
    try:
        from sluice_kafka.sample_test import Reader, check_sample, decoder_for
    except ImportError:
        pass
    else:  # what sample_test.run does, with the decoder prepare() picks for these checks
        decode = decoder_for("json", None, checks)
        reader = Reader(None, checks, config, decode, frozenset())  # type: ignore[arg-type]
        result = check_sample("test.bench", reader, topic, bounds, 120)
        assert result.status == "pass", result.message
        assert f" on {count} records " in result.message, result.message
        return count
    try:  # checkouts before it (--against)
        from sluice_kafka.sample_test import Decoded
    except ImportError:  # decodes once the sample is read
        sample = read_sample(config, topic, bounds, timeout=120)
        result = evaluate("test.bench", sample, checks, decode_json, now_ms)  # type: ignore[arg-type]
    else:  # each batch is decoded as it is read
        decoded = Decoded(decode_json)
        sample = read_sample(config, topic, bounds, 120, now_ms, decoded.add)
        result = evaluate("test.bench", sample, checks, decoded, now_ms)
    assert sample.complete, sample.missing
    assert result.status == "pass", result.message
    return len(sample.messages)


def timed(run: object, *args: object) -> tuple[float, int]:
    started = time.perf_counter()
    records = run(*args)  # type: ignore[operator]
    return time.perf_counter() - started, records


def timed_elsewhere(checkout: Path, bootstrap: str, topic: str, count: int) -> float:
    """Seconds of one sample test run by ``checkout``'s sluice, in a child process."""
    folders = [checkout / "core" / "src", *sorted(checkout.glob("plugins/*/src"))]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(str(f.resolve()) for f in folders)}
    command = [sys.executable, __file__, str(count), "--bootstrap", bootstrap, "--time", topic]
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=True)
    return float(done.stdout)


def delete_topic(bootstrap: str, topic: str) -> None:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    for future in admin.delete_topics([topic], request_timeout=30).values():
        future.result()


def rates(label: str, count: int, seconds: list[float]) -> tuple[float, float]:
    """Records per second at the least and the median time."""
    best, median = min(seconds), statistics.median(seconds)
    print(
        f"{label:<30} {count / best:>10,.0f} records/s ({best:.3f}s least), "
        f"{count / median:>10,.0f} records/s ({median:.3f}s median)"
    )
    return count / best, count / median


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("count", nargs="?", type=int, default=200_000, help="records")
    parser.add_argument(
        "--bootstrap",
        default=os.environ.get("KAFKA_BOOTSTRAP"),
        help="a running broker to use (default: $KAFKA_BOOTSTRAP, else start one)",
    )
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--against", type=Path, help="another sluice checkout to compare with")
    parser.add_argument("--time", metavar="TOPIC", help=argparse.SUPPRESS)  # the child's part
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    count = args.count
    if args.time:
        print(timed(sample_test, args.bootstrap, args.time, count)[0])
        return
    with broker(args.bootstrap) as bootstrap:
        topic = f"bench.sample.{uuid.uuid4().hex[:8]}"
        started = time.perf_counter()
        produce(bootstrap, topic, count)
        print(f"produced {count:,} JSON records to {topic} in {time.perf_counter() - started:.1f}s")
        times: dict[str, list[float]] = {"bare": [], "this": [], "against": []}
        try:
            for round_ in range(1, args.rounds + 1):
                seconds, read = timed(bare, bootstrap, topic)
                assert read == count, read
                times["bare"].append(seconds)
                seconds, checked = timed(sample_test, bootstrap, topic, count)
                assert checked == count, checked
                times["this"].append(seconds)
                line = f"round {round_}: bare {times['bare'][-1]:.3f}s, sample test {seconds:.3f}s"
                if args.against is not None:
                    times["against"].append(timed_elsewhere(args.against, bootstrap, topic, count))
                    line += f", sample test of {args.against} {times['against'][-1]:.3f}s"
                print(line, flush=True)
        finally:
            delete_topic(bootstrap, topic)
        bare_best, bare_median = rates("bare confluent-kafka consumer:", count, times["bare"])
        for label in ("against", "this") if args.against is not None else ("this",):
            name = f"sample test ({label}):" if args.against is not None else "sample test:"
            best, median = rates(name, count, times[label])
            ratio, ratio_median = best / bare_best, median / bare_median
            verdict = "meets" if ratio >= 0.5 else "misses"
            print(
                f"{'':<30} ratio {ratio:.2f} at the least times, {ratio_median:.2f} at the "
                f"medians ({verdict} the goal of >= 0.50)"
            )


if __name__ == "__main__":
    main()
