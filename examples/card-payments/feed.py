"""Feed the card-payments example: merchants, then a stream of card authorisations.

It plays the payment gateway and the merchant service, which own the two source topics: it
creates them when they are missing (sluice reads sources, never creates them) and produces
JSON records that match sources/payments.yml. About one payment in ten is invalid (a negative
amount or an unsupported currency) so that payments_clean has something to filter out.

    python feed.py --payments 500            # uses $KAFKA_BOOTSTRAP (default localhost:9092)
    python feed.py --payments 500 --rate 50  # paced: 50 payments per second

The last line it prints is a JSON summary, e.g. {"merchants": 12, "payments": 500, "valid": 452}.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from confluent_kafka import KafkaException, Producer
from confluent_kafka.admin import AdminClient, NewTopic

PAYMENTS_TOPIC = "payments.raw.v1"
MERCHANTS_TOPIC = "merchants.v1"
CURRENCIES = ("EUR", "USD", "GBP")
COUNTRIES = ("FR", "DE", "GB", "US", "ES", "IT")
RISK_LEVELS = ("low", "low", "low", "medium", "high")


def ensure_topics(admin: AdminClient) -> None:
    """Create the source topics the first time (merchants: one record per merchant, compacted)."""
    existing = set(admin.list_topics(timeout=10).topics)
    wanted = [
        NewTopic(PAYMENTS_TOPIC, num_partitions=3, replication_factor=1),
        NewTopic(
            MERCHANTS_TOPIC,
            num_partitions=1,
            replication_factor=1,
            config={"cleanup.policy": "compact"},
        ),
    ]
    missing = [topic for topic in wanted if topic.topic not in existing]
    for name, future in admin.create_topics(missing).items() if missing else []:
        future.result()
        print(f"created topic {name}")


def merchants(count: int, rng: random.Random) -> list[dict[str, Any]]:
    return [
        {
            "merchant_id": f"m-{number:03d}",
            "merchant_name": f"Merchant {number:03d}",
            "country": rng.choice(COUNTRIES),
            "risk_level": rng.choice(RISK_LEVELS),
        }
        for number in range(1, count + 1)
    ]


def payment(
    number: int, merchant_ids: list[str], when: datetime, rng: random.Random
) -> dict[str, Any]:
    amount = round(rng.lognormvariate(4.0, 1.4), 2)
    currency = rng.choice(CURRENCIES)
    roll = rng.random()
    if roll < 0.05:
        amount = -amount  # a refund sent to the wrong topic
    elif roll < 0.10:
        currency = "XXX"  # a test currency
    elif roll < 0.13:
        amount = round(rng.uniform(5_000, 20_000), 2)  # for the fraud team's review
    return {
        "payment_id": f"pay-{number:06d}",
        "card_number": "4" + "".join(rng.choice("0123456789") for _ in range(15)),
        "merchant_id": rng.choice(merchant_ids),
        "amount": amount,
        "currency": currency,
        # Flink's JSON format reads TIMESTAMP(3) as "yyyy-MM-dd HH:mm:ss.SSS"
        "ts": when.strftime("%Y-%m-%d %H:%M:%S.") + f"{when.microsecond // 1000:03d}",
    }


def is_valid(record: dict[str, Any]) -> bool:
    """What models/payments/payments_clean.sql keeps."""
    return record["amount"] > 0 and record["currency"] in CURRENCIES


def generate(
    payments: int, merchant_count: int, seed: int, start: datetime
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The merchants and the payments (a quarter of a second apart from ``start``)."""
    rng = random.Random(seed)
    directory = merchants(merchant_count, rng)
    ids = [merchant["merchant_id"] for merchant in directory]
    stream = [
        payment(number, ids, start + timedelta(milliseconds=250 * number), rng)
        for number in range(1, payments + 1)
    ]
    return directory, stream


def send(
    bootstrap: str, directory: list[dict[str, Any]], stream: list[dict[str, Any]], rate: float = 0
) -> None:
    """Produce the merchants (keyed by id), then the payments (keyed by payment id)."""
    ensure_topics(AdminClient({"bootstrap.servers": bootstrap}))
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 20})
    for merchant in directory:
        producer.produce(MERCHANTS_TOPIC, key=merchant["merchant_id"], value=json.dumps(merchant))
    for number, record in enumerate(stream, start=1):
        producer.produce(PAYMENTS_TOPIC, key=record["payment_id"], value=json.dumps(record))
        producer.poll(0)
        if rate:
            time.sleep(1 / rate)
        if number % 100 == 0:
            print(f"  produced {number}/{len(stream)} payments", flush=True)
    if producer.flush(30):
        raise KafkaException("some records were not delivered within 30 s")


def feed(
    bootstrap: str, payments: int, merchant_count: int, rate: float, seed: int
) -> dict[str, int]:
    start = datetime.now(UTC).replace(tzinfo=None)
    directory, stream = generate(payments, merchant_count, seed, start)
    send(bootstrap, directory, stream, rate)
    valid = sum(is_valid(record) for record in stream)
    return {"merchants": merchant_count, "payments": payments, "valid": valid}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bootstrap", default=os.environ.get("KAFKA_BOOTSTRAP", "localhost:9092"))
    parser.add_argument("--payments", type=int, default=500)
    parser.add_argument("--merchants", type=int, default=12)
    parser.add_argument("--rate", type=float, default=0, help="payments per second (0: at once)")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    try:
        summary = feed(args.bootstrap, args.payments, args.merchants, args.rate, args.seed)
    except KafkaException as error:
        print(f"error: could not feed Kafka at {args.bootstrap}: {error}", file=sys.stderr)
        return 1
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
