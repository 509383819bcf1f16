"""sluice-kafka's diff logic, without a broker: what plan proposes for given live values."""

from __future__ import annotations

from typing import Any

import pytest

from sluice.errors import ProjectErrors, SluiceError
from sluice.plugin.api import Artifact
from sluice_kafka.client import LiveTopic
from sluice_kafka.planner import (
    Owner,
    PlanInput,
    check_source_topic,
    plan_changes,
    plan_topic,
)
from sluice_kafka.registry import Registered, Verdict
from sluice_kafka.schema_planner import LiveSubject
from sluice_kafka.state import Record, lock_holder, spec_hash

BROKER_DEFAULTS = {
    "cleanup.policy": "delete",
    "retention.ms": "604800000",
    "segment.bytes": "1073741824",
    "remote.storage.enable": "false",
}
OWNER = Owner("model.orders_big", "orders_big", "models/orders.yml", 3)


def topic(
    name: str = "orders.big", partitions: int | None = 6, config: dict[str, str] | None = None
) -> Artifact:
    spec = {
        "name": name,
        "partitions": partitions,
        "replication_factor": None,
        "config": config or {},
    }
    return Artifact("kafka", "topic", name, spec, file="topics.json")


def live(
    name: str = "orders.big",
    partitions: int = 6,
    replicas: int = 1,
    overrides: dict[str, str] | None = None,
) -> LiveTopic:
    overrides = overrides or {}
    return LiveTopic(
        name, partitions, replicas, {**BROKER_DEFAULTS, **overrides}, frozenset(overrides)
    )


def record(artifact: Artifact) -> Record:
    spec = dict(artifact.spec)
    return Record(artifact.kind, artifact.name, spec, spec_hash(spec), "1.0", "now", "shop", "dev")


def test_a_missing_topic_is_created_with_only_the_declared_fields() -> None:
    change = plan_topic(topic(config={"retention.ms": "3600000"}), None, None, OWNER)
    assert change is not None
    assert (change.action, change.node, change.stage) == ("create", "model.orders_big", 0)
    assert change.diff == {"partitions": (None, 6), "config.retention.ms": (None, "3600000")}


def test_broker_defaults_never_show_as_a_diff() -> None:
    desired = topic(partitions=None)
    assert plan_topic(desired, live(partitions=12), record(desired), OWNER) is None


def test_raising_partitions_and_a_config_is_an_in_place_update_field_by_field() -> None:
    desired = topic(partitions=12, config={"retention.ms": "3600000"})
    change = plan_topic(desired, live(), record(topic()), OWNER)
    assert change is not None and change.action == "update" and not change.destructive
    assert change.diff == {
        "partitions": (6, 12),
        "config.retention.ms": ("604800000", "3600000"),
    }
    assert change.payload["partitions"] == 12
    assert change.payload["set"] == {"retention.ms": "3600000"}
    assert change.payload["reset"] == []


def test_lowering_partitions_is_an_error_that_says_what_to_do() -> None:
    with pytest.raises(SluiceError) as raised:
        plan_topic(topic(partitions=6), live(partitions=12), None, OWNER)
    error = raised.value
    assert error.message == (
        "topic 'orders.big' (model 'orders_big'): partitions cannot decrease from 12 to 6"
    )
    assert error.hint == (
        "create a new topic (rename the model's topic) or pass --allow-recreate to delete and "
        "recreate it (data is lost)"
    )
    assert str(error.location) == "models/orders.yml:3"


def test_allow_recreate_turns_an_impossible_change_into_a_destructive_replace() -> None:
    change = plan_topic(topic(partitions=6), live(partitions=12), None, OWNER, allow_recreate=True)
    assert change is not None
    assert (change.action, change.destructive) == ("replace", True)
    assert change.diff == {"partitions": (12, 6)}


def test_a_replication_factor_change_is_refused_with_a_way_out() -> None:
    desired = Artifact(
        "kafka",
        "topic",
        "t",
        {"name": "t", "partitions": None, "replication_factor": 3, "config": {}},
    )
    with pytest.raises(SluiceError, match="replication_factor cannot change from 1 to 3") as raised:
        plan_topic(desired, live("t"), None, None)
    assert "kafka-reassign-partitions" in (raised.value.hint or "")


def test_compaction_on_a_tiered_topic_is_refused_but_otherwise_changes_in_place() -> None:
    tiered = live(overrides={"remote.storage.enable": "true"})
    with pytest.raises(SluiceError, match=r"cleanup\.policy cannot change from delete to compact"):
        plan_topic(topic(config={"cleanup.policy": "compact"}), tiered, None, OWNER)
    change = plan_topic(topic(config={"cleanup.policy": "compact"}), live(), None, OWNER)
    assert change is not None and change.action == "update"
    assert change.diff == {"config.cleanup.policy": ("delete", "compact")}


def test_dropping_compaction_is_marked_destructive() -> None:
    change = plan_topic(
        topic(config={"cleanup.policy": "delete"}),
        live(overrides={"cleanup.policy": "compact"}),
        None,
        OWNER,
    )
    assert change is not None and change.destructive
    assert "retention.ms" in (change.reason or "")


def test_list_valued_policies_compare_as_sets() -> None:
    desired = topic(config={"cleanup.policy": "delete,compact"})
    current = live(overrides={"cleanup.policy": "compact,delete"})
    assert plan_topic(desired, current, record(desired), OWNER) is None


def test_a_key_sluice_set_and_the_project_dropped_returns_to_the_default() -> None:
    before = topic(config={"retention.ms": "3600000"})
    change = plan_topic(topic(), live(overrides={"retention.ms": "3600000"}), record(before), OWNER)
    assert change is not None
    assert change.diff == {"config.retention.ms": ("3600000", None)}
    assert change.payload["reset"] == ["retention.ms"]


def test_a_key_somebody_else_set_is_left_alone() -> None:
    desired = topic()
    assert (
        plan_topic(desired, live(overrides={"segment.bytes": "1000"}), record(desired), OWNER)
        is None
    )


def test_an_unknown_config_key_is_a_plan_error() -> None:
    with pytest.raises(SluiceError, match=r"'retention\.msec' is not a topic config"):
        plan_topic(topic(config={"retention.msec": "1"}), live(), None, OWNER)


def test_an_existing_unrecorded_topic_is_adopted_without_a_diff() -> None:
    change = plan_topic(topic(), live(), None, OWNER)
    assert change is not None and change.action == "update" and change.diff == {}
    assert "no record" in (change.reason or "")


def test_a_missing_source_topic_is_an_error_naming_the_source_and_its_file() -> None:
    source = Artifact(
        "kafka", "source_topic", "orders.v1", {"name": "orders.v1", "must_exist": True}
    )
    owner = Owner("source.orders", "orders", "sources/orders.yml", 2)
    with pytest.raises(SluiceError) as raised:
        check_source_topic(source, False, owner)
    assert raised.value.message == (
        "source 'orders' reads topic 'orders.v1', which does not exist "
        "(declared in sources/orders.yml)"
    )
    check_source_topic(source, True, owner)
    lenient = Artifact("kafka", "source_topic", "x", {"name": "x", "must_exist": False})
    check_source_topic(lenient, False, owner)


def _input(**fields: Any) -> PlanInput:
    defaults: dict[str, Any] = {
        "artifacts": [],
        "project_artifacts": [],
        "owners": {},
        "live": {},
        "records": {},
    }
    return PlanInput(**{**defaults, **fields})


def test_every_impossible_change_is_reported_at_once() -> None:
    a, b = topic("a", partitions=1), topic("b", partitions=1)
    given = _input(
        artifacts=[a, b], project_artifacts=[a, b], live={"a": live("a"), "b": live("b")}
    )
    with pytest.raises(ProjectErrors) as raised:
        plan_changes(given)
    assert len(raised.value.errors) == 2


def test_recorded_topics_that_left_the_project_are_orphan_deletes() -> None:
    kept, gone = topic("kept"), topic("gone")
    given = _input(
        artifacts=[kept],
        project_artifacts=[kept],
        live={"kept": live("kept"), "gone": live("gone"), "foreign": live("foreign")},
        records={("topic", "kept"): record(kept), ("topic", "gone"): record(gone)},
    )
    changes = plan_changes(given)
    assert [(c.action, c.name, c.node, c.destructive) for c in changes] == [
        ("delete", "gone", None, True)
    ]


def test_a_topic_of_an_unselected_node_is_not_an_orphan() -> None:
    selected, other = topic("selected"), topic("other")
    given = _input(
        artifacts=[selected],
        project_artifacts=[selected, other],
        live={"selected": live("selected"), "other": live("other")},
        records={("topic", "selected"): record(selected), ("topic", "other"): record(other)},
    )
    assert plan_changes(given) == []


def test_destroy_deletes_only_what_sluice_recorded() -> None:
    ours, theirs = topic("ours"), topic("theirs")
    given = _input(
        artifacts=[ours, theirs],
        project_artifacts=[ours, theirs],
        live={"ours": live("ours"), "theirs": live("theirs")},
        records={("topic", "ours"): record(ours)},
        destroy=True,
    )
    assert [(c.action, c.name) for c in plan_changes(given)] == [("delete", "ours")]


# -- registry subjects that leave ------------------------------------------------------------


def subject(name: str, kind: str = "schema") -> Artifact:
    spec: dict[str, Any] = {"subject": name, "schemaType": "AVRO", "schema": {"type": "string"}}
    if kind == "schema":
        spec["compatibility"] = "BACKWARD"
    return Artifact("kafka", kind, name, spec, file="schemas.json")


def _verdict(subject: str, schema: str, schema_type: str) -> Verdict:
    return Verdict(True)


def _registered(subject: str, version: int = 2) -> LiveSubject:
    return LiveSubject(Registered(subject, version, 1, '"string"', "AVRO"), "BACKWARD")


def test_a_subject_whose_model_left_is_an_orphan_delete() -> None:
    kept, gone = subject("kept-value"), subject("gone-value")
    given = _input(
        artifacts=[kept],
        project_artifacts=[kept],
        records={("schema", "kept-value"): record(kept), ("schema", "gone-value"): record(gone)},
        subjects={"kept-value": _registered("kept-value"), "gone-value": _registered("gone-value")},
        check=_verdict,
    )
    [change] = [c for c in plan_changes(given) if c.action == "delete"]
    assert (change.action, change.kind, change.name, change.node) == (
        "delete",
        "schema",
        "gone-value",
        None,
    )
    assert change.destructive and change.diff == {"version": (2, None)}
    assert change.reason == "its model left the project"


def test_a_subject_already_gone_is_only_forgotten() -> None:
    gone = subject("gone-value")
    given = _input(
        records={("schema", "gone-value"): record(gone)},
        subjects={"gone-value": LiveSubject(None, None)},
        check=_verdict,
    )
    [change] = plan_changes(given)
    assert change.action == "delete" and not change.destructive
    assert change.reason == "its model left the project (already gone; apply forgets it)"


def test_a_recorded_subject_that_is_now_a_sources_is_forgotten_never_deleted() -> None:
    source = subject("orders-value", kind="source_schema")
    owner = Owner("source.orders", "orders")
    given = _input(
        project_artifacts=[source],
        owners={source.key: owner},
        records={("schema", "orders-value"): record(subject("orders-value"))},
        check=_verdict,
    )
    [change] = plan_changes(given)
    assert (change.action, change.node, change.payload["spec"]) == (
        "update",
        "source.orders",
        None,
    )


def test_without_a_registry_no_subject_is_deleted() -> None:
    given = _input(records={("schema", "gone-value"): record(subject("gone-value"))})
    assert plan_changes(given) == []


def test_destroy_deletes_the_subjects_sluice_registered_never_a_sources() -> None:
    ours, theirs = subject("ours-value"), subject("theirs-value", kind="source_schema")
    given = _input(
        artifacts=[ours, theirs],
        project_artifacts=[ours, theirs],
        owners={ours.key: OWNER},
        records={("schema", "ours-value"): record(ours)},
        check=_verdict,
        destroy=True,
    )
    [change] = plan_changes(given)
    assert (change.action, change.name, change.node) == ("delete", "ours-value", OWNER.uid)


# -- the lock ---------------------------------------------------------------------------------


def claim(run: str, at: float, ttl: float = 600) -> dict[str, Any]:
    return {
        "claim": {
            "run_id": run,
            "host": "h",
            "pid": 1,
            "started_at": at,
            "claimed_at": at,
            "expires_at": at + ttl,
        }
    }


def test_the_first_claim_while_free_wins_and_later_claims_lose() -> None:
    holder = lock_holder([claim("a", 100), claim("b", 101)], now=102)
    assert holder is not None and holder.run_id == "a"


def test_a_release_frees_the_lock_only_when_the_holder_releases() -> None:
    events = [claim("a", 100), {"release": "b"}]
    assert lock_holder(events, now=102) is not None
    assert lock_holder([*events, {"release": "a"}, claim("b", 103)], now=104).run_id == "b"  # type: ignore[union-attr]


def test_an_expired_lock_is_ignored() -> None:
    assert lock_holder([claim("a", 100, ttl=10)], now=200) is None
    holder = lock_holder([claim("a", 100, ttl=10), claim("b", 150)], now=151)
    assert holder is not None and holder.run_id == "b"
