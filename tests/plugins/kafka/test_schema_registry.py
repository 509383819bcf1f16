"""Registry subjects against a real broker and Apicurio Registry, driven through the CLI.

The stories follow what the registry really does: under BACKWARD a new reader must read old
records, so dropping a field is accepted and adding a required one is refused; FORWARD refuses
dropping a required field. Apicurio answers an incompatible check with a bare
``is_compatible: false``, so the field in the plan error is sluice's own reading.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import httpx
import pytest
from confluent_kafka.admin import AdminClient, NewTopic

from sluice.testing import RunResult, SluiceProject, local_stack

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("jobs_stub_installed")]

Make = Callable[[Mapping[str, str]], SluiceProject]
NS = "org.apache.flink.avro.generated"


@pytest.fixture(scope="module")
def stack_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    with local_stack(tmp_path_factory.mktemp("stack"), ["kafka", "schema-registry"]) as env:
        yield env


class Story:
    def __init__(self, make: Make, env: dict[str, str]) -> None:
        self.name = f"sr-{uuid.uuid4().hex[:8]}"
        self.topic = f"{self.name}.orders"
        self.subject = f"{self.topic}-value"
        self.env = env
        self.make = make
        self.project: SluiceProject | None = None
        self.registry = httpx.Client(base_url=env["SR_URL"], timeout=10)

    def write(
        self,
        columns: str,
        schema: str = "",
        tests: str = "",
        sources: str = "",
        models: str = "",
        orders: bool = True,
        registry: str = "",
    ) -> None:
        """The project: the avro model orders (unless ``orders`` is False) and ``models``."""
        text = (
            f'project: {{ name: {self.name}, version: "1.0.0" }}\n'
            "runtime:\n"
            '  kafka: { bootstrap_servers: "${KAFKA_BOOTSTRAP}" }\n'
            f'  schema_registry: {{ url: "${{SR_URL}}"{registry} }}\n'
            "models:\n"
            + (
                "  - name: orders\n    materialized: topic\n    format: avro\n"
                f"    topic: {{ name: {self.topic}, partitions: 1, replication_factor: 1 }}\n"
                f"    columns: {columns}\n" + (f"    schema: {schema}\n" if schema else "")
                if orders
                else ""
            )
            + models
            + (f"sources:\n{sources}" if sources else "")
            + (f"tests:\n{tests}" if tests else "")
        )
        if self.project is None:
            self.project = self.make({"stream_project.yml": text})
        else:
            self.project.write({"stream_project.yml": text})

    def run(self, *args: str) -> RunResult:
        assert self.project is not None
        return self.project.run(*args, env=self.env)

    def latest(self, subject: str | None = None) -> dict[str, Any]:
        answer = self.registry.get(f"/subjects/{subject or self.subject}/versions/latest")
        assert answer.status_code == 200, answer.text
        data: dict[str, Any] = answer.json()
        return {**data, "schema": json.loads(data["schema"])}

    def level(self) -> str:
        return str(self.registry.get(f"/config/{self.subject}").json()["compatibilityLevel"])


@pytest.fixture
def story(sluice_project: Make, stack_env: dict[str, str]) -> Story:
    return Story(sluice_project, stack_env)


def _ok(result: RunResult) -> RunResult:
    assert result.exit_code == 0, result.output
    return result


TWO = "[{ name: id, type: STRING NOT NULL }, { name: amount, type: INT }]"
THREE = (
    "[{ name: id, type: STRING NOT NULL }, { name: amount, type: INT }, "
    "{ name: note, type: STRING }]"
)
V1 = {
    "type": "record",
    "name": "record",
    "namespace": NS,
    "fields": [
        {"name": "id", "type": "string"},
        {"name": "amount", "type": ["null", "int"], "default": None},
    ],
}


def test_apply_registers_the_exact_schema_and_level_and_a_second_plan_has_nothing(
    story: Story,
) -> None:
    story.write(TWO, schema="{ compatibility: BACKWARD }")
    plan = _ok(story.run("plan"))
    assert f"+ create schema {story.subject} (kafka)" in plan.output
    assert 'compatibility: (none) -> "BACKWARD"' in plan.output
    _ok(story.run("apply"))
    latest = story.latest()
    assert (latest["version"], latest["schema"]) == (1, V1)
    assert story.level() == "BACKWARD"
    again = story.run("plan", "--detailed-exitcode")
    assert again.exit_code == 0, again.output
    assert "No changes" in again.output


def test_a_new_nullable_column_is_compatible_and_registers_version_2(story: Story) -> None:
    story.write(TWO, schema="{ compatibility: BACKWARD }")
    _ok(story.run("apply"))
    story.write(THREE, schema="{ compatibility: BACKWARD }")
    plan = _ok(story.run("plan"))
    assert f"update schema {story.subject}" in plan.output
    assert "version: 1 -> 2" in plan.output
    assert 'fields.note: (none) -> "string (nullable)"' in plan.output
    _ok(story.run("apply"))
    latest = story.latest()
    assert latest["version"] == 2
    assert latest["schema"]["fields"][-1] == {
        "name": "note",
        "type": ["null", "string"],
        "default": None,
    }
    assert _ok(story.run("plan", "--detailed-exitcode")).exit_code == 0


def test_under_backward_dropping_a_field_is_accepted_but_a_new_required_one_is_refused(
    story: Story,
) -> None:
    story.write(TWO, schema="{ compatibility: BACKWARD }")
    _ok(story.run("apply"))
    story.write(
        "[{ name: id, type: STRING NOT NULL }, { name: amount, type: INT }, "
        "{ name: region, type: STRING NOT NULL }]",
        schema="{ compatibility: BACKWARD }",
    )
    refused = story.run("plan")
    assert refused.exit_code != 0
    assert f"schema subject '{story.subject}' (model 'orders')" in refused.output
    assert "not BACKWARD compatible with version 1: field 'region'" in refused.output
    assert "compatibility level is BACKWARD" in refused.output
    assert "Traceback" not in refused.output

    # a reader of the new schema simply ignores the dropped field: the registry agrees
    story.write("[{ name: amount, type: INT }]", schema="{ compatibility: BACKWARD }")
    _ok(story.run("apply"))
    assert [f["name"] for f in story.latest()["schema"]["fields"]] == ["amount"]


def test_under_forward_dropping_a_required_field_is_a_plan_error_naming_it(story: Story) -> None:
    story.write(TWO, schema="{ compatibility: FORWARD }")
    _ok(story.run("apply"))
    assert story.level() == "FORWARD"
    story.write("[{ name: amount, type: INT }]", schema="{ compatibility: FORWARD }")
    refused = story.run("apply")
    assert refused.exit_code != 0
    assert "not FORWARD compatible with version 1: field 'id'" in refused.output
    assert story.latest()["version"] == 1  # nothing was registered


def test_schema_tests_pass_when_the_subject_matches_and_fail_naming_the_field(
    story: Story,
) -> None:
    # a source's subject, registered by its producer: sluice only reads it
    source_subject = f"{story.name}.payments-value"
    producer_schema = {
        **V1,
        "fields": [{"name": "id", "type": "string"}, {"name": "amount", "type": "long"}],
    }
    registered = story.registry.post(
        f"/subjects/{source_subject}/versions", json={"schema": json.dumps(producer_schema)}
    )
    assert registered.status_code == 200, registered.text

    def source(columns: str) -> str:
        return (
            f"  - name: payments\n    topic: {story.name}.payments\n    format: avro\n"
            f"    columns: {columns}\n"
        )

    tests = (
        "  - { name: orders_schema, model: orders, type: schema }\n"
        "  - { name: payments_schema, model: payments, type: schema }\n"
    )
    matching = "[{ name: id, type: STRING NOT NULL }, { name: amount, type: BIGINT NOT NULL }]"
    story.write(TWO, tests=tests, sources=source(matching))
    _ok(story.run("apply", "--select", "orders"))
    passed = _ok(story.run("test"))
    assert "orders_schema" in passed.output and "payments_schema" in passed.output

    # a reader declaring DOUBLE could read the long (an Avro promotion); STRING cannot
    drifted = "[{ name: id, type: STRING NOT NULL }, { name: amount, type: STRING NOT NULL }]"
    story.write(TWO, tests=tests, sources=source(drifted))
    failed = story.run("test")
    assert failed.exit_code != 0
    assert f"subject '{source_subject}': field 'amount'" in failed.output
    assert "it is string in the declared columns but long in version 1" in failed.output

    missing = "[{ name: id, type: STRING NOT NULL }, { name: currency, type: STRING }]"
    story.write(TWO, tests=tests, sources=source(missing))
    failed = story.run("test", "--select", "payments_schema")
    assert failed.exit_code != 0
    assert "field 'currency': version 1 has no such field" in failed.output


# -- subjects that leave ----------------------------------------------------------------------


def _avro_model(name: str, topic: str) -> str:
    return (
        f"  - name: {name}\n    materialized: topic\n    format: avro\n"
        f"    topic: {{ name: {topic}, partitions: 1, replication_factor: 1 }}\n"
        "    columns: [{ name: id, type: STRING NOT NULL }]\n"
    )


def _avro_source(story: Story) -> tuple[str, str]:
    """A source whose producer registered its subject (and created its topic)."""
    topic = f"{story.name}.payments"
    subject = f"{topic}-value"
    registered = story.registry.post(
        f"/subjects/{subject}/versions",
        json={"schema": json.dumps({**V1, "fields": [{"name": "id", "type": "string"}]})},
    )
    assert registered.status_code == 200, registered.text
    admin = _admin(story)  # kept alive until its futures are done
    for future in admin.create_topics([NewTopic(topic, 1, 1)]).values():
        future.result(30)
    source = (
        f"  - name: payments\n    topic: {topic}\n    format: avro\n"
        "    columns: [{ name: id, type: STRING NOT NULL }]\n"
    )
    return source, subject


def _deleted_too(story: Story) -> list[str]:
    """Every subject the registry knows, soft-deleted ones included."""
    answer = story.registry.get("/subjects", params={"deleted": "true"})
    assert answer.status_code == 200, answer.text
    return list(answer.json())


def _admin(story: Story) -> AdminClient:
    return AdminClient({"bootstrap.servers": story.env["KAFKA_BOOTSTRAP"]})


def _forget(story: Story, *subjects: str) -> None:
    """Remove what a test made outside sluice: subjects, and the source's topic."""
    for subject in subjects:
        story.registry.delete(f"/subjects/{subject}")
        story.registry.delete(f"/subjects/{subject}", params={"permanent": "true"})
    admin = _admin(story)
    for future in admin.delete_topics([f"{story.name}.payments"]).values():
        future.result(30)


def test_a_subject_whose_model_left_is_soft_deleted_with_prune_and_its_level_cleared(
    story: Story,
) -> None:
    source, source_subject = _avro_source(story)
    keep = _avro_model("keep", f"{story.name}.keep")
    story.write(TWO, schema="{ compatibility: FULL }", models=keep, sources=source)
    _ok(story.run("apply"))
    schema_id = story.latest()["id"]
    assert story.level() == "FULL"

    story.write(TWO, models=keep, sources=source, orders=False)
    held = story.run("plan", "--detailed-exitcode")
    assert held.exit_code == 0, held.output  # deletes wait for --prune
    assert (
        f"- delete schema {story.subject} (kafka)  # its model left the project  "
        "(left the project; pass --prune to delete)"
    ) in held.output
    assert "    version: 1 -> (none)" in held.output
    assert source_subject not in held.output  # a source's subject: never deleted
    _ok(story.run("apply"))
    assert story.latest()["version"] == 1

    pruned = _ok(story.run("apply", "--prune"))
    assert f"schema {story.subject}" in pruned.output
    gone = story.registry.get(f"/subjects/{story.subject}/versions/latest")
    assert (gone.status_code, gone.json()["error_code"]) == (404, 40401)
    # soft: the registry still knows it, and records written with it stay readable by id
    assert story.subject in _deleted_too(story)
    assert story.registry.get(f"/schemas/ids/{schema_id}").status_code == 200
    # its own level is gone: the registry's global one applies again
    assert story.level() == story.registry.get("/config").json()["compatibilityLevel"]
    assert story.latest(f"{story.name}.keep-value")["version"] == 1
    assert story.latest(source_subject)["version"] == 1
    assert story.run("plan", "--prune", "--detailed-exitcode").exit_code == 0

    # the model comes back: its subject is registered again from scratch
    story.write(TWO, models=keep, sources=source)
    _ok(story.run("apply"))
    assert story.latest()["schema"] == V1
    _ok(story.run("destroy", "--yes"))
    _forget(story, story.subject, f"{story.name}.keep-value", source_subject)


def test_destroy_deletes_the_subjects_of_models_for_good_when_asked_and_never_a_sources(
    story: Story,
) -> None:
    source, source_subject = _avro_source(story)
    story.write(TWO, sources=source, registry=", permanent_delete: true")
    _ok(story.run("apply"))
    assert story.latest()["version"] == 1

    destroyed = _ok(story.run("destroy", "--yes"))
    assert f"schema {story.subject}" in destroyed.output
    assert story.subject not in _deleted_too(story)  # permanent: not even soft-deleted
    assert story.latest(source_subject)["version"] == 1  # the producer's subject stays
    _forget(story, source_subject)
