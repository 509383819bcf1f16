"""Topic configs on Redpanda: unknown redpanda.* keys fail the compile, Kafka keys Redpanda
ignores are warned of at plan."""

from __future__ import annotations

import json
from typing import Any

from .fake_admin import FakeAdmin
from .shop import flat, line_of, make, rewrite

OFFLINE = "  redpanda: { admin_url: http://redpanda:9644 }\n"


def transform(config: str) -> str:
    """A transform model whose output topic has ``config``."""
    return (
        "  - name: orders_clean\n    materialized: transform\n    from: orders_raw\n"
        "    transform: { wasm: transforms/clean.wasm }\n"
        f"    topic:\n      config:\n{config}"
    )


def test_an_unknown_redpanda_key_is_a_compile_error_with_line_and_suggestion(
    sluice_project: Any, only_redpanda: None
):
    project = make(sluice_project, OFFLINE, transform("        redpanda.remote.reed: true\n"))

    result = project.run("compile")

    assert result.exit_code != 0
    line = line_of(project, "redpanda.remote.reed")
    assert (
        f"stream_project.yml:{line}:9: model 'orders_clean': topic config "
        "'redpanda.remote.reed' is not a topic property Redpanda knows" in flat(result.output)
    )
    assert "did you mean 'redpanda.remote.read'?" in result.output
    assert "Traceback" not in result.output


def test_a_known_redpanda_key_with_a_wrong_value_is_refused(sluice_project, only_redpanda):
    config = "        redpanda.remote.write: yes please\n        redpanda.iceberg.mode: kv\n"
    project = make(sluice_project, OFFLINE, transform(config))

    result = project.run("compile")

    text = flat(result.output)
    assert "topic config 'redpanda.remote.write' is 'yes please'; it takes true or false" in text
    assert "topic config 'redpanda.iceberg.mode' is 'kv', which is not an Iceberg mode" in text
    assert "2 errors found" in result.output


def test_defaults_are_checked_once_where_they_are_written(sluice_project, only_redpanda):
    defaults = "defaults:\n  topic:\n    config: { redpanda.remote.dlete: 'true' }\n"
    models = transform("        retention.ms: 1000\n") + transform("        x: y\n").replace(
        "orders_clean", "orders_copy"
    )
    project = make(sluice_project, OFFLINE, models, extra=defaults)

    result = project.run("compile")

    assert result.exit_code != 0
    line = line_of(project, "redpanda.remote.dlete")
    assert result.output.count("redpanda.remote.dlete") == 1
    assert (
        f"stream_project.yml:{line}:15: defaults.topic: topic config 'redpanda.remote.dlete' "
        "is not a topic property Redpanda knows" in flat(result.output)
    )
    assert "did you mean 'redpanda.remote.delete'?" in result.output


def test_without_runtime_redpanda_sluice_kafka_passes_every_config_as_before(
    sluice_project, monkeypatch
):
    monkeypatch.setenv("SLUICE_DISABLE_PLUGINS", "connect,conduktor,webhook")
    kafka = (
        '  kafka: { bootstrap_servers: "localhost:9092" }\n'
        "  flink: { rest_url: http://localhost:8081 }\n"
    )
    model = (
        "  - name: orders_copy\n    sql: SELECT id FROM {{ source('orders_raw') }}\n"
        "    topic:\n      config: { redpanda.remote.reed: 'true', min.insync.replicas: '2' }\n"
    )
    project = make(sluice_project, kafka, model)

    result = project.run("compile")

    assert result.exit_code == 0, result.output
    topics = json.loads((project.path / "target" / "kafka" / "topics.json").read_text())
    assert topics[0]["config"] == {"min.insync.replicas": "2", "redpanda.remote.reed": "true"}


CONFIG = (
    "        min.insync.replicas: 2\n"
    "        remote.storage.enable: true\n"
    "        redpanda.remote.read: true\n"
    "        retention.ms: 86400000\n"
)


def test_plan_warns_of_kafka_configs_redpanda_ignores_and_they_are_no_changes(
    sluice_project: Any, only_redpanda: None, admin: FakeAdmin
):
    runtime = f"  redpanda:\n    admin_url: {admin.url}\n"
    project = make(sluice_project, runtime, transform(CONFIG))
    ignored = (
        "topic config min.insync.replicas (topic orders_clean): Redpanda accepts it and ignores it"
    )
    unsupported = (
        "topic config remote.storage.enable (topic orders_clean) is not a topic property "
        "Redpanda supports; use redpanda.remote.write and redpanda.remote.read"
    )

    plan = project.run("plan")
    assert plan.exit_code == 0, plan.output
    assert f"warning: {ignored}\n" in plan.stdout
    assert f"warning: {unsupported}\n" in plan.stdout
    assert "redpanda.remote.read" not in plan.stdout.replace("redpanda.remote.read\n", "")
    assert "retention.ms" not in plan.stdout

    as_json = json.loads(project.run("plan", "--output", "json").stdout)
    assert as_json["warnings"] == [
        {"plugin": "redpanda", "node": "model.orders_clean", "message": ignored},
        {"plugin": "redpanda", "node": "model.orders_clean", "message": unsupported},
    ]
    assert [c["kind"] for c in as_json["changes"]] == ["transform"]

    assert project.run("apply").exit_code == 0
    again = project.run("plan", "--detailed-exitcode")
    assert again.exit_code == 0, again.output  # warnings only: nothing to change
    assert f"warning: {ignored}" in again.stdout


def test_a_config_set_in_defaults_is_warned_of_once_naming_every_topic(
    sluice_project, only_redpanda, admin
):
    runtime = f"  redpanda:\n    admin_url: {admin.url}\n"
    models = transform("        retention.ms: 1000\n") + transform("        x.y: z\n").replace(
        "orders_clean", "orders_copy"
    )
    defaults = "defaults:\n  topic:\n    config: { preallocate: 'true' }\n"
    project = make(sluice_project, runtime, models, extra=defaults)
    rewrite(project, runtime, models, extra=defaults)

    plan = project.run("plan")

    assert plan.exit_code == 0, plan.output
    assert plan.stdout.count("preallocate") == 1
    assert (
        "warning: topic config preallocate (topics orders_clean, orders_copy): Redpanda "
        "accepts it and ignores it" in plan.stdout
    )
    assert (
        "warning: topic config x.y (topic orders_copy) is not a topic property Redpanda "
        "supports" in plan.stdout
    )
