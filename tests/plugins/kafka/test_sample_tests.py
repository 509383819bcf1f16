"""Sample tests against a real broker and registry, driven through ``sluice test``.

One broker and one Apicurio registry (the plugin's dev services) serve the whole module; each
story uses its own project and topic names.
"""

from __future__ import annotations

import json
import time
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import httpx
import pytest

from sluice.testing import RunResult, SluiceProject, local_stack

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("jobs_stub_installed")]

confluent_kafka = pytest.importorskip("confluent_kafka")

from confluent_kafka import Producer  # noqa: E402
from confluent_kafka.admin import AdminClient  # noqa: E402

from sluice_kafka import avro  # noqa: E402
from sluice_kafka.testing import create_topics  # noqa: E402

Make = Callable[[Mapping[str, str]], SluiceProject]

COLUMNS = (
    "[{ name: id, type: STRING }, { name: amount, type: INT }, { name: status, type: STRING }]"
)
QUALITY = """
      - not_null: { columns: [id] }
      - range: { column: amount, min: 0 }
      - accepted_values: { column: status, values: [new, paid] }
      - unique: { columns: [id] }
      - matches: { column: id, pattern: "^o-[0-9]+$" }
      - accepted_types: { columns: { id: STRING, amount: INT } }
      - expression: { sql: "amount < 1000 OR status = 'paid'" }
"""


@pytest.fixture(scope="module")
def stack_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    with local_stack(tmp_path_factory.mktemp("stack"), ["kafka", "schema-registry"]) as env:
        yield env


@pytest.fixture(scope="module")
def admin(stack_env: dict[str, str]) -> AdminClient:
    return AdminClient({"bootstrap.servers": stack_env["KAFKA_BOOTSTRAP"]})


class Story:
    def __init__(self, make: Make, env: dict[str, str], admin: AdminClient) -> None:
        self.name = f"samp-{uuid.uuid4().hex[:8]}"
        self.topic = f"{self.name}.orders"
        self.env = env
        self.make = make
        self.admin = admin
        self.project: SluiceProject | None = None

    def create_topic(self, partitions: int = 2) -> None:
        create_topics(self.env["KAFKA_BOOTSTRAP"], self.topic, partitions=partitions)

    def produce(
        self, rows: list[Any], partition_of: Callable[[int], int] = lambda i: i % 2, **extra: Any
    ) -> None:
        # idempotence keeps the order (and so the offsets) when a fresh topic makes it retry
        producer = Producer(
            {"bootstrap.servers": self.env["KAFKA_BOOTSTRAP"], "enable.idempotence": True}
        )
        for i, row in enumerate(rows):
            value = row if isinstance(row, bytes) else json.dumps(row).encode()
            producer.produce(self.topic, value, partition=partition_of(i), **extra)
        assert producer.flush(30) == 0

    def write(self, tests: str, fmt: str = "json") -> SluiceProject:
        text = (
            f'project: {{ name: {self.name}, version: "1.0.0" }}\n'
            "runtime:\n"
            '  kafka: { bootstrap_servers: "${KAFKA_BOOTSTRAP}" }\n'
            '  schema_registry: { url: "${SR_URL}" }\n'
            f"sources:\n  - name: orders\n    topic: {self.topic}\n    format: {fmt}\n"
            f"    columns: {COLUMNS}\n"
            f"tests:\n{tests}"
        )
        self.project = self.make({"stream_project.yml": text})
        return self.project

    def run(self, *args: str) -> RunResult:
        assert self.project is not None
        return self.project.run(*args, env=self.env)

    def results(self) -> dict[str, Any]:
        assert self.project is not None
        path = self.project.path / "target" / "run_results.json"
        data = json.loads(path.read_text(encoding="utf-8"))
        return {row["node"]: row for row in data["results"]}


@pytest.fixture
def story(sluice_project: Make, stack_env: dict[str, str], admin: AdminClient) -> Story:
    made = Story(sluice_project, stack_env, admin)
    made.create_topic()
    return made


def good_rows(count: int) -> list[dict[str, Any]]:
    return [
        {"id": f"o-{i}", "amount": i * 10, "status": "paid" if i % 3 else "new"}
        for i in range(count)
    ]


def test_good_data_passes_and_junit_is_written(story: Story, tmp_path: Path) -> None:
    story.produce(good_rows(40))
    story.write(
        "  - name: orders_quality\n    model: orders\n    assertions:"
        + QUALITY
        + "    sample: { max_records: 100 }\n"
    )
    junit = tmp_path / "reports" / "junit.xml"
    result = story.run("test", "--junit-xml", str(junit))
    assert result.exit_code == 0, result.output
    assert "PASS  orders_quality" in result.output
    assert "7 assertions hold on 40 records" in result.output
    row = story.results()["test.orders_quality"]
    assert (row["status"], row["failures"], row["details"]) == ("pass", 0, [])
    suite = ET.parse(junit).getroot()
    assert (suite.get("tests"), suite.get("failures"), suite.get("errors")) == ("1", "0", "0")


def test_bad_data_fails_naming_partition_and_offset(story: Story, tmp_path: Path) -> None:
    rows: list[Any] = good_rows(10)
    rows[3] = {"id": None, "amount": 5, "status": "new"}  # partition 1, offset 1
    rows[4] = {"id": "o-4", "amount": -7, "status": "lost"}  # partition 0, offset 2
    rows[6] = b"not json"  # partition 0, offset 3
    rows[9] = {"id": "o-1", "amount": 5000, "status": "new"}  # partition 1, offset 4
    story.produce(rows)
    story.write("  - name: orders_quality\n    model: orders\n    assertions:" + QUALITY)
    junit = tmp_path / "junit.xml"
    result = story.run("test", "--junit-xml", str(junit))
    assert result.exit_code == 1, result.output
    assert "FAIL  orders_quality" in result.output
    row = story.results()["test.orders_quality"]
    assert row["status"] == "fail"
    found = {(d["assertion"], d["partition"], d["offset"]): d for d in row["details"]}
    assert set(found) == {
        ("decode", 0, 3),
        ("not_null(id)", 1, 1),
        ("range(amount)", 0, 2),
        ("accepted_values(status)", 0, 2),
        ("unique(id)", 1, 4),
        ("expression", 1, 4),
    }
    assert row["failures"] == 6
    assert found[("not_null(id)", 1, 1)]["reason"] == "id is null"
    assert json.loads(found[("not_null(id)", 1, 1)]["value"])["amount"] == 5
    assert found[("range(amount)", 0, 2)]["reason"] == "amount = -7 is below the minimum 0"
    assert found[("decode", 0, 3)]["value"] == "not json"
    assert found[("unique(id)", 1, 4)]["reason"] == 'id = "o-1" repeats partition 1 offset 0'
    failure = ET.parse(junit).getroot().find("testcase/failure")
    assert failure is not None
    assert "6 failures in 10 records" in (failure.get("message") or "")
    assert "(partition 0, offset 2)" in (failure.text or "")


def test_latest_records_per_partition_only(story: Story) -> None:
    old = [{"id": None, "amount": 1, "status": "new"}] * 10
    story.produce(old)
    story.produce(good_rows(20))  # 10 newer records per partition
    story.write(
        "  - name: latest\n    model: orders\n"
        "    assertions:\n      - not_null: { columns: [id] }\n      - row_count: { min: 10, max: 10 }\n"
        "    sample: { max_records: 5 }\n"
        "  - name: latest_overall\n    model: orders\n"
        "    assertions:\n      - row_count: { min: 7, max: 7 }\n"
        "    sample: { max_records: 7, per_partition: false }\n"
    )
    result = story.run("test")
    assert result.exit_code == 0, result.output


def test_warn_on_failure_does_not_fail_the_run(story: Story) -> None:
    story.produce([{"id": None, "amount": 1, "status": "new"}])
    story.write(
        "  - name: soft\n    model: orders\n    on_failure: warn\n"
        "    assertions:\n      - not_null: { columns: [id] }\n"
    )
    result = story.run("test")
    assert result.exit_code == 0, result.output
    assert story.results()["test.soft"]["status"] == "warn"


def test_freshness_and_row_count_on_a_time_window(story: Story) -> None:
    now = int(time.time() * 1000)
    hour = 3_600_000
    old = good_rows(6)
    story.produce(old, timestamp=now - 5 * hour)  # outside a 1h window
    story.produce(good_rows(4), timestamp=now - 2 * 60_000)  # 2 minutes old
    story.write(
        "  - name: recent\n    model: orders\n"
        "    assertions:\n      - row_count: { min: 4, max: 4 }\n"
        "      - freshness: { max_age: 10m }\n"
        "    sample: { window: 1h }\n"
        "  - name: stale\n    model: orders\n"
        "    assertions:\n      - freshness: { max_age: 1m }\n"
        "    sample: { window: 1h }\n"
        "  - name: too_few\n    model: orders\n"
        "    assertions:\n      - row_count: { min: 5 }\n"
        "    sample: { window: 1h }\n"
        "  - name: whole_day\n    model: orders\n"
        "    assertions:\n      - row_count: { min: 10, max: 10 }\n"
        "    sample: { window: 1d }\n"
    )
    result = story.run("test")
    assert result.exit_code == 1, result.output
    rows = story.results()
    assert rows["test.recent"]["status"] == "pass", rows["test.recent"]
    assert rows["test.whole_day"]["status"] == "pass", rows["test.whole_day"]
    stale = rows["test.stale"]
    assert stale["status"] == "fail"
    assert stale["details"][0]["reason"].startswith("the newest record (Kafka timestamp) is 2")
    assert stale["details"][0]["reason"].endswith("old, more than the allowed 1m")
    too_few = rows["test.too_few"]
    assert too_few["details"][0]["reason"] == (
        "the sample holds 4 records, fewer than the minimum 5"
    )


def test_empty_window_and_missing_topic(story: Story) -> None:
    story.write(
        "  - name: empty\n    model: orders\n"
        "    assertions:\n      - freshness: { max_age: 1h }\n"
        "    sample: { window: 1h }\n"
    )
    result = story.run("test")
    assert result.exit_code == 1
    assert story.results()["test.empty"]["details"][0]["reason"] == "the sample holds no records"
    story.topic = f"{story.name}.absent"
    story.write(
        "  - name: absent\n    model: orders\n    assertions:\n      - row_count: { min: 1 }\n"
    )
    result = story.run("test")
    assert result.exit_code == 1
    row = story.results()["test.absent"]
    assert row["status"] == "error"
    assert f"topic '{story.topic}' does not exist" in row["message"]


def test_avro_records_through_the_registry(story: Story) -> None:
    schema = {
        "type": "record",
        "name": "Order",
        "fields": [
            {"name": "id", "type": ["null", "string"]},
            {"name": "amount", "type": "long"},
            {"name": "status", "type": "string"},
        ],
    }
    answer = httpx.post(
        f"{story.env['SR_URL']}/subjects/{story.topic}-value/versions",
        json={"schema": json.dumps(schema)},
        timeout=30,
    )
    assert answer.status_code == 200, answer.text
    schema_id = answer.json()["id"]
    rows = [
        {"id": "o-1", "amount": 10, "status": "new"},
        {"id": None, "amount": 20, "status": "paid"},
        {"id": "o-3", "amount": -1, "status": "paid"},
    ]
    story.produce([avro.encode_for_tests(schema, r, schema_id) for r in rows])
    story.write(
        "  - name: avro_quality\n    model: orders\n    assertions:\n"
        "      - not_null: { columns: [id] }\n      - expression: { sql: amount > 0 }\n"
        "      - accepted_types: { columns: { amount: BIGINT } }\n",
        fmt="avro",
    )
    result = story.run("test")
    assert result.exit_code == 1, result.output
    row = story.results()["test.avro_quality"]
    found = {(d["assertion"], d["partition"], d["offset"]): d for d in row["details"]}
    assert set(found) == {("not_null(id)", 1, 0), ("expression", 0, 1)}
    assert json.loads(found[("expression", 0, 1)]["value"]) == rows[2]
