"""Produce sample orders to the source topic, creating it the first time.

sluice reads sources and never creates their topics: in production a shop's service owns
orders.raw.v1. On the local stack this script plays that service:

    python feed.py --orders 200        # uses $KAFKA_BOOTSTRAP (default localhost:9092)
"""

from __future__ import annotations

import argparse
import json
import os
import random
from datetime import UTC, datetime, timedelta

from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic

TOPIC = "orders.raw.v1"


def main() -> None:
    parser = argparse.ArgumentParser(description="Produce sample orders to " + TOPIC)
    parser.add_argument("--bootstrap", default=os.environ.get("KAFKA_BOOTSTRAP", "localhost:9092"))
    parser.add_argument("--orders", type=int, default=200)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    admin = AdminClient({"bootstrap.servers": args.bootstrap})
    if TOPIC not in admin.list_topics(timeout=10).topics:
        admin.create_topics([NewTopic(TOPIC, num_partitions=3, replication_factor=1)])[
            TOPIC
        ].result()
        print(f"created topic {TOPIC}")
    rng = random.Random(args.seed)
    producer = Producer({"bootstrap.servers": args.bootstrap})
    start = datetime.now(UTC).replace(tzinfo=None)
    valid = 0
    for number in range(1, args.orders + 1):
        amount = round(rng.uniform(-20, 200), 2)  # a few refunds come through as negatives
        valid += amount > 0
        when = start + timedelta(milliseconds=500 * number)
        order_id = f"o-{number:05d}"
        order = {
            "order_id": order_id,
            "customer_id": f"c-{rng.randint(1, 20):02d}",
            "amount": amount,
            # Flink's JSON format reads TIMESTAMP(3) as "yyyy-MM-dd HH:mm:ss.SSS"
            "ordered_at": when.strftime("%Y-%m-%d %H:%M:%S.") + f"{when.microsecond // 1000:03d}",
        }
        producer.produce(TOPIC, key=order_id, value=json.dumps(order))
    producer.flush(30)
    print(json.dumps({"orders": args.orders, "valid": valid}))


if __name__ == "__main__":
    main()
