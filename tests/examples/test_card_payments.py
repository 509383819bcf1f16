"""The card-payments example on the real local stack: known input in, the exact rows out.

The example project is copied as it is and fed with its own generator (``feed.py``) at a fixed
seed; the test then reads every output topic and the ledger table and compares them with what
the models' SQL says they must hold, row by row.
"""

from __future__ import annotations

import importlib.util
import json
import shutil
import time
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from sluice.testing import SluiceProject, local_stack

pytestmark = pytest.mark.integration
for module in ("sluice_kafka", "sluice_flink", "sluice_connect", "psycopg"):
    pytest.importorskip(module)

import psycopg  # noqa: E402
from confluent_kafka import Consumer  # noqa: E402

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "card-payments"
PAYMENTS, MERCHANTS, SEED = 400, 12, 11
LARGE = Decimal(5000)  # vars.large_amount
WATERMARK_DELAY = timedelta(seconds=5)
TIMEOUT = 150.0

Row = dict[str, Any]


def load_feed() -> ModuleType:
    spec = importlib.util.spec_from_file_location("card_payments_feed", EXAMPLE / "feed.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    stack = ["kafka", "flink-sql-gateway", "connect"]
    with local_stack(tmp_path_factory.mktemp("stack"), stack) as env:
        yield env


def when(text: str) -> datetime:
    return datetime.fromisoformat(text)


def money(value: Any) -> Decimal:
    return Decimal(str(value)).quantize(Decimal("0.01"))


def read_topic(env: dict[str, str], topic: str, done: Callable[[list[Any]], bool]) -> list[Any]:
    """Every (key, value) of ``topic`` from the start, once ``done`` says enough arrived and
    nothing more came for a few seconds."""
    consumer = Consumer(
        {
            "bootstrap.servers": env["KAFKA_BOOTSTRAP"],
            "group.id": f"check-{uuid.uuid4().hex}",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
        }
    )
    consumer.subscribe([topic])
    records: list[Any] = []
    deadline, quiet_since = time.monotonic() + TIMEOUT, time.monotonic()
    try:
        while time.monotonic() < deadline:
            message = consumer.poll(0.5)
            if message is None or message.error():
                if done(records) and time.monotonic() - quiet_since > 4:
                    break
                continue
            quiet_since = time.monotonic()
            value = message.value()
            key = message.key()
            records.append(
                (
                    json.loads(key) if key else None,
                    json.loads(value) if value is not None else None,
                )
            )
    finally:
        consumer.close()
    return records


def expected_windows(valid: list[Row]) -> dict[tuple[str, datetime], tuple[int, Decimal]]:
    totals: dict[tuple[str, datetime], tuple[int, Decimal]] = defaultdict(lambda: (0, Decimal(0)))
    for row in valid:
        start = when(row["ts"]).replace(second=0, microsecond=0)
        count, amount = totals[(row["merchant_id"], start)]
        totals[(row["merchant_id"], start)] = (count + 1, amount + money(row["amount"]))
    return dict(totals)


def test_known_payments_give_the_exact_rows_of_every_model(
    tmp_path: Path, env: dict[str, str]
) -> None:
    project = SluiceProject(tmp_path / "card-payments")
    shutil.copytree(EXAMPLE, project.path, ignore=shutil.ignore_patterns(".sluice", "target"))
    feed = load_feed()
    start = datetime.now().replace(microsecond=0) - timedelta(minutes=3)
    merchants, payments = feed.generate(PAYMENTS, MERCHANTS, SEED, start)
    valid = [row for row in payments if feed.is_valid(row)]
    feed.send(env["KAFKA_BOOTSTRAP"], merchants, payments)

    applied = project.run("apply", env=env)
    try:
        assert applied.exit_code == 0, applied.output
        assert "apply: 11 success" in applied.output

        # payments_clean: the valid payments, once each, without their card numbers
        clean = [v for _, v in read_topic(env, "payments_clean", lambda r: len(r) >= len(valid))]
        assert len(clean) == len(valid)
        by_id = {row["payment_id"]: row for row in clean}
        assert set(by_id) == {row["payment_id"] for row in valid}
        for row in valid:
            got = by_id[row["payment_id"]]
            assert set(got) == {"payment_id", "merchant_id", "amount", "currency", "ts"}
            assert (got["merchant_id"], got["currency"]) == (row["merchant_id"], row["currency"])
            assert money(got["amount"]) == money(row["amount"])
            assert when(got["ts"]) == when(row["ts"])

        # large_payments: the valid ones at or above vars.large_amount
        large = {r["payment_id"] for r in valid if money(r["amount"]) >= LARGE}
        assert large, "the seed gives some large payments"
        got = read_topic(env, "large_payments", lambda r: len(r) >= len(large))
        assert {v["payment_id"] for _, v in got} == large

        # card_activity: every payment with a positive amount, its card number masked by the
        # model's own job (mask_fallback: materialize) but for the last four digits
        positive = {r["payment_id"]: r for r in payments if money(r["amount"]) > 0}
        cards = read_topic(env, "card_activity", lambda r: len(r) >= len(positive))
        assert sorted(v["payment_id"] for _, v in cards) == sorted(positive)
        for _, value in cards:
            number = positive[value["payment_id"]]["card_number"]
            assert value["card_number"] == "X" * 12 + number[12:]

        # payments_enriched: an upsert topic; its last value per key joins the merchant in
        directory = {m["merchant_id"]: m for m in merchants}
        latest: dict[str, Row | None] = {}

        def joined(records: list[Any]) -> bool:
            latest.clear()
            for key, value in records:
                latest[key["payment_id"]] = value
            return sum(1 for v in latest.values() if v and v["merchant_name"]) >= len(valid)

        joined(read_topic(env, "payments_enriched", joined))
        assert set(latest) == {r["payment_id"] for r in valid}
        for row in valid:
            enriched = latest[row["payment_id"]]
            merchant = directory[row["merchant_id"]]
            assert enriched is not None
            assert (enriched["merchant_name"], enriched["country"], enriched["risk_level"]) == (
                merchant["merchant_name"],
                merchant["country"],
                merchant["risk_level"],
            )
            assert money(enriched["amount"]) == money(row["amount"])

        # merchant_minute_totals: every window the watermark has closed, with its exact totals
        windows = expected_windows(valid)
        watermark = max(when(r["ts"]) for r in payments) - WATERMARK_DELAY
        # (10 s of margin: each partition's watermark trails the newest record it holds)
        closed = {k for k in windows if k[1] + timedelta(seconds=70) <= watermark}
        assert closed, "the input spans several minutes"
        got_windows = {
            (v["merchant_id"], when(v["window_start"])): (v["payments"], money(v["total_amount"]))
            for _, v in read_topic(env, "merchant_minute_totals", lambda r: len(r) >= len(closed))
        }
        assert set(closed) <= set(got_windows)
        assert {k: got_windows[k] for k in got_windows} == {k: windows[k] for k in got_windows}

        # the ledger: one row per valid payment, upserted by payment_id
        expected_rows = sorted((r["payment_id"], money(r["amount"])) for r in valid)
        rows: list[tuple[str, Decimal]] = []
        deadline = time.monotonic() + TIMEOUT
        while time.monotonic() < deadline:
            with psycopg.connect(env["PG_DSN"]) as connection:
                rows = sorted(
                    connection.execute("SELECT payment_id, amount FROM payments_clean").fetchall()
                )
            if rows == expected_rows:
                break
            time.sleep(2)
        assert rows == expected_rows
    finally:
        project.run("destroy", "--yes", env=env)
