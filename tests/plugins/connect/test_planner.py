"""sluice-connect's planner offline: diffs, masking, ownership, restarts and errors."""

from __future__ import annotations

from typing import Any

import pytest

from sluice.errors import PlanError, ProjectErrors, RemoteError
from sluice.plugin.api import Artifact
from sluice_connect.client import failure_of, trace_summary
from sluice_connect.planner import (
    MARK_DECLARED,
    MARK_PROJECT,
    PlanInput,
    desired_config,
    plan_changes,
    resolve,
    status_item,
)

JDBC = "io.debezium.connector.jdbc.JdbcSinkConnector"
PLUGINS = [
    {"class": JDBC, "type": "sink", "version": "3.5.0.Final"},
    {"class": "org.apache.kafka.connect.file.FileStreamSinkConnector", "type": "sink"},
    {"class": "org.apache.kafka.connect.file.FileStreamSourceConnector", "type": "source"},
]
TRACE = (
    "org.apache.kafka.connect.errors.ConnectException: Exiting WorkerSinkTask\n"
    "\tat org.apache.kafka.connect.runtime.WorkerSinkTask.deliver(WorkerSinkTask.java:1)\n"
    "Caused by: org.postgresql.util.PSQLException: ERROR: column is of type integer\n"
    "\tat org.postgresql.core.v3.QueryExecutorImpl.receive(QueryExecutorImpl.java:2)\n"
)


def artifact(name: str = "shop-to_db", **config: str) -> Artifact:
    base = {"connector.class": JDBC, "tasks.max": "1", "topics": "orders"}
    spec = {"name": name, "config": base | config}
    return Artifact("connect", "connector", name, spec)


def live_entry(config: dict[str, str], *, task_state: str = "RUNNING") -> dict[str, Any]:
    task: dict[str, Any] = {"id": 0, "state": task_state, "worker_id": "w:8083"}
    if task_state == "FAILED":
        task["trace"] = TRACE
    return {
        "info": {"config": config, "tasks": [], "type": "sink"},
        "status": {"connector": {"state": "RUNNING", "worker_id": "w:8083"}, "tasks": [task]},
    }


def applied(a: Artifact, variables: dict[str, str]) -> dict[str, str]:
    """The config as sluice put it: resolved, with its marker."""
    return resolve(desired_config(a, "shop"), variables, {}).config | {"name": a.name}


def given(artifacts: list[Artifact], live: dict[str, Any], **kwargs: Any) -> PlanInput:
    values: dict[str, Any] = {
        "project": "shop",
        "artifacts": artifacts,
        "project_names": {a.name for a in artifacts},
        "nodes": {a.key: f"model.{a.name.split('-', 1)[1]}" for a in artifacts},
        "live": live,
        "plugins": PLUGINS,
        "variables": {"DB_PASSWORD": "s3cret-pw", "DB_URL": "jdbc:postgresql://db/shop"},
    }
    return PlanInput(**(values | kwargs))


def test_a_missing_connector_is_created_with_references_shown_not_values() -> None:
    a = artifact(**{"connection.password": "${DB_PASSWORD}", "connection.url": "${DB_URL}"})
    [change] = plan_changes(given([a], {}))
    assert (change.action, change.stage, change.node) == ("create", 2, "model.to_db")
    assert change.diff["connection.password"] == (None, "${DB_PASSWORD}")
    assert change.diff["connection.url"] == (None, "${DB_URL}")
    assert change.diff[MARK_PROJECT] == (None, "shop")
    assert "s3cret-pw" not in repr(change)  # neither in the diff nor in the payload
    assert change.payload["config"]["connection.password"] == "${DB_PASSWORD}"


def test_an_unchanged_connector_needs_nothing_and_undeclared_live_keys_are_ignored() -> None:
    a = artifact(**{"connection.password": "${DB_PASSWORD}"})
    variables = given([a], {}).variables
    live = applied(a, dict(variables)) | {"worker.added.key": "x"}
    [change] = plan_changes(given([a], {a.name: live_entry(live)}))
    assert change.action == "none"


def test_a_changed_secret_shows_masked_live_and_the_reference() -> None:
    a = artifact(**{"connection.password": "${DB_PASSWORD}", "batch.size": "50"})
    live = applied(a, {"DB_PASSWORD": "old-pw"}) | {"batch.size": "10"}
    [change] = plan_changes(given([a], {a.name: live_entry(live)}))
    assert change.action == "update"
    assert change.diff == {
        "batch.size": ("10", "50"),
        "connection.password": ("****", "${DB_PASSWORD}"),
    }
    assert "old-pw" not in repr(change) and "s3cret-pw" not in repr(change)


def test_a_key_the_project_no_longer_declares_is_shown_removed() -> None:
    before = artifact(**{"batch.size": "50"})
    after = artifact()
    live = applied(before, {})
    [change] = plan_changes(given([after], {after.name: live_entry(live)}))
    assert change.action == "update"
    assert change.diff == {"batch.size": ("50", None)}  # the recorded keys change with it
    assert MARK_DECLARED in change.payload["config"]


def test_a_missing_variable_names_every_missing_one() -> None:
    a = artifact(**{"connection.password": "${NOPE_A}", "connection.url": "${NOPE_B}"})
    with pytest.raises(RemoteError, match="NOPE_A, NOPE_B"):
        plan_changes(given([a], {}))


def test_a_class_not_installed_lists_the_installed_sinks() -> None:
    a = artifact(**{"connector.class": "com.example.Nope"})
    b = artifact("shop-other", **{"connector.class": "com.example.Other"})
    with pytest.raises(ProjectErrors) as raised:
        plan_changes(given([a, b], {}))
    messages = [e.message for e in raised.value.errors]
    assert len(messages) == 2
    assert "class com.example.Nope is not installed" in messages[0]
    assert messages[0].endswith(
        f"installed sink connectors: {JDBC}, org.apache.kafka.connect.file.FileStreamSinkConnector"
    )
    assert all(isinstance(e, PlanError) for e in raised.value.errors)


def test_orphans_need_the_prefix_and_the_marker() -> None:
    keep = artifact()
    ours = applied(artifact("shop-gone"), {})
    handmade = {"connector.class": JDBC, "topics": "orders"}  # no marker
    other_project = applied(artifact("shop-x"), {}) | {MARK_PROJECT: "shopping"}
    live = {
        keep.name: live_entry(applied(keep, {})),
        "shop-gone": live_entry(ours),
        "shop-handmade": live_entry(handmade),
        "shop-x": live_entry(other_project),
        "elsewhere-gone": live_entry(ours),
    }
    changes = [c for c in plan_changes(given([keep], live)) if c.action != "none"]
    assert [(c.action, c.name, c.node, c.destructive) for c in changes] == [
        ("delete", "shop-gone", None, True)
    ]


def test_a_connector_only_unselected_is_no_orphan() -> None:
    selected = artifact()
    other = artifact("shop-other")
    live = {other.name: live_entry(applied(other, {}))}
    changes = plan_changes(given([selected], live, project_names={selected.name, other.name}))
    assert [c.action for c in changes] == ["create"]


def test_failed_tasks_are_restarted_only_when_asked() -> None:
    a = artifact()
    live = {a.name: live_entry(applied(a, {}), task_state="FAILED")}
    [plain] = plan_changes(given([a], live))
    assert plain.action == "none"
    [restart] = plan_changes(given([a], live, restart_failed=True))
    assert restart.action == "update"
    assert restart.payload["restart"] is True
    assert restart.diff == {"task 0": ("FAILED", "RUNNING")}
    assert "PSQLException" in (restart.reason or "")


def test_destroy_deletes_what_exists_with_its_dead_letter_topic() -> None:
    a = artifact(**{"errors.deadletterqueue.topic.name": "orders.dlq"})
    b = artifact("shop-absent")
    live = {a.name: live_entry(applied(a, {}))}
    changes = plan_changes(given([a, b], live, destroy=True))
    assert [(c.action, c.name) for c in changes] == [("delete", a.name)]
    assert changes[0].payload == {"dlq_topic": "orders.dlq"}
    assert changes[0].diff["(dead letter topic)"] == ("orders.dlq", None)


def test_a_dead_letter_topic_that_is_missing_is_part_of_the_change() -> None:
    a = artifact()
    spec = dict(a.spec) | {"dlq": {"topic": "orders.dlq", "partitions": 1}}
    a = Artifact("connect", "connector", a.name, spec)
    live = {a.name: live_entry(applied(a, {}))}
    [change] = plan_changes(given([a], live, missing_topics={"orders.dlq"}))
    assert change.action == "update"
    assert change.diff == {"(dead letter topic)": (None, "orders.dlq")}
    assert change.payload["dlq"]["topic"] == "orders.dlq"


def test_resolve_handles_defaults_escapes_and_runtime_secrets() -> None:
    class Registry:
        basic_auth_password = "reg-pw"

    config = {
        "a": "${UNSET:-fallback}",
        "b": "$$literal",
        "c": "user:{{secret:schema_registry.basic_auth_password}}",
        "d": "plain",
    }
    resolved = resolve(config, {}, {"schema_registry": Registry()})
    assert resolved.config == {"a": "fallback", "b": "$literal", "c": "user:reg-pw", "d": "plain"}
    assert resolved.referenced == {"c"}
    assert resolved.secrets == ["reg-pw"]


def test_status_names_task_states_and_the_trace() -> None:
    a = artifact()
    item = status_item("model.to_db", a.name, live_entry(applied(a, {}), task_state="FAILED"))
    assert item.state == "DEGRADED"
    assert item.detail["tasks"] == "0:FAILED"
    assert item.detail["error"] == (
        "task 0: org.apache.kafka.connect.errors.ConnectException: Exiting WorkerSinkTask "
        "(caused by org.postgresql.util.PSQLException: ERROR: column is of type integer)"
    )
    assert item.detail["trace"] == TRACE
    assert status_item("model.to_db", a.name, None).state == "MISSING"


def test_trace_summary_and_failure_sentence() -> None:
    assert trace_summary(None) is None
    assert trace_summary("java.lang.IllegalStateException: boom\n\tat x") == (
        "java.lang.IllegalStateException: boom"
    )
    status = {"connector": {"state": "FAILED", "trace": "E: bad"}, "tasks": []}
    assert failure_of(status) == "connector FAILED: E: bad"
