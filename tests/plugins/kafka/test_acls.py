"""Planning ACL bindings without a broker: the project's bindings are one set, sluice deletes
only what it recorded, and a binding several nodes want is created once and kept while one
of them still wants it."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest

from sluice.errors import SluiceError
from sluice.plugin.api import Artifact
from sluice.project.schema import Access
from sluice_kafka.acls import Binding, access_bindings, group_prefix
from sluice_kafka.planner import Owner, PlanInput, plan_changes
from sluice_kafka.state import Record, spec_hash

ORDERS = Owner("model.orders", "orders", "models/orders.yml", 3)
PAYMENTS = Owner("model.payments", "payments", "models/payments.yml", 9)


def acls(topic: str, owner: Owner, read: Sequence[Any] = (), write: Sequence[str] = ()) -> Artifact:
    access = Access.model_validate({"read": list(read), "write": list(write)})
    bindings = sorted(access_bindings(topic, access))
    spec = {"node": owner.uid, "bindings": [b.to_spec() for b in bindings]}
    return Artifact("kafka", "acls", topic, spec, file="acls.json")


def bindings_of(*artifacts: Artifact) -> set[Binding]:
    return {Binding.from_spec(b) for a in artifacts for b in a.spec["bindings"]}


def record(artifact: Artifact) -> Record:
    spec = dict(artifact.spec)
    return Record(artifact.kind, artifact.name, spec, spec_hash(spec), "1.0", "now", "shop", "dev")


def plan(
    artifacts: list[Artifact],
    project: list[Artifact] | None = None,
    recorded: Sequence[Artifact] = (),
    live: set[Binding] | None = None,
    **fields: Any,
) -> list[Any]:
    project = artifacts if project is None else project
    owners = {a.key: o for a in project for o in (ORDERS, PAYMENTS) if a.spec["node"] == o.uid}
    given = PlanInput(
        artifacts=artifacts,
        project_artifacts=project,
        owners=owners,
        live={},
        records={("acls", a.name): record(a) for a in recorded},
        bindings=bindings_of(*recorded) if live is None else live,
        nodes={o.uid: o for o in (ORDERS, PAYMENTS)},
        **fields,
    )
    return [c for c in plan_changes(given) if c.kind == "acls"]


# -- what access: grants ----------------------------------------------------------------------


def test_a_reader_gets_read_and_describe_and_its_group_prefix_a_writer_write_and_describe() -> None:
    access = Access.model_validate({"read": ["User:fraud-svc"], "write": ["User:loader"]})
    assert {b.label() for b in access_bindings("orders", access)} == {
        "User:fraud-svc READ topic orders",
        "User:fraud-svc DESCRIBE topic orders",
        "User:fraud-svc READ group fraud-svc.*",
        "User:loader WRITE topic orders",
        "User:loader DESCRIBE topic orders",
    }


def test_a_reader_written_as_a_mapping_names_its_own_group_prefix() -> None:
    access = Access.model_validate(
        {"read": ["User:alice", {"principal": "User:audit", "group_prefix": "audit-jobs-"}]}
    )
    assert access.read == ("User:alice", "User:audit")  # what every plugin reads
    assert group_prefix("User:audit", access) == "audit-jobs-"
    assert group_prefix("User:alice", access) == "alice."
    [audit_group] = [
        b
        for b in access_bindings("orders", access)
        if b.resource_type == "GROUP" and b.principal == "User:audit"
    ]
    assert (audit_group.resource_name, audit_group.pattern_type) == ("audit-jobs-", "PREFIXED")


# -- planning ---------------------------------------------------------------------------------


def test_missing_bindings_are_created_and_extra_ones_sluice_made_are_deleted() -> None:
    before = acls("t", ORDERS, read=["User:alice", "User:bob"])
    after = acls("t", ORDERS, read=["User:alice", "User:carol"])
    foreign = Binding("TOPIC", "t", "LITERAL", "User:dave", "*", "WRITE", "ALLOW")
    [change] = plan([after], recorded=[before], live=bindings_of(before) | {foreign})
    assert (change.action, change.node) == ("update", "model.orders")
    assert change.diff == {
        "User:carol READ topic t": (None, "ALLOW"),
        "User:carol DESCRIBE topic t": (None, "ALLOW"),
        "User:carol READ group carol.*": (None, "ALLOW"),
        "User:bob READ topic t": ("ALLOW", None),
        "User:bob DESCRIBE topic t": ("ALLOW", None),
        "User:bob READ group bob.*": ("ALLOW", None),
    }
    assert all(b["principal"] != "User:dave" for b in change.payload["delete"])


def test_a_new_set_of_bindings_is_a_create_and_a_second_plan_has_nothing() -> None:
    wanted = acls("t", ORDERS, read=["User:alice"])
    [change] = plan([wanted], live=set())
    assert change.action == "create" and len(change.payload["create"]) == 3
    assert plan([wanted], recorded=[wanted]) == []


def test_a_group_prefix_two_topics_grant_is_created_once() -> None:
    orders = acls("orders", ORDERS, read=["User:alice"])
    payments = acls("payments", PAYMENTS, read=["User:alice"])
    changes = plan([orders, payments], live=set())
    group = "User:alice READ group alice.*"
    assert [group in c.diff for c in changes] == [True, False]  # the first change makes it


def test_a_group_prefix_stays_while_another_topic_still_grants_it() -> None:
    orders, payments = (
        acls("orders", ORDERS, read=["User:alice"]),
        acls("payments", PAYMENTS, read=["User:alice"]),
    )
    orders_now = acls("orders", ORDERS)  # alice no longer reads orders
    [change] = plan(
        [orders_now, payments], recorded=[orders, payments], project=[orders_now, payments]
    )
    assert change.name == "orders"
    assert set(change.diff) == {"User:alice READ topic orders", "User:alice DESCRIBE topic orders"}


def test_bindings_of_a_node_that_left_are_an_orphan_delete_but_shared_ones_stay() -> None:
    gone = acls("gone", Owner("model.gone", "gone"), read=["User:alice"])
    kept = acls("kept", PAYMENTS, read=["User:alice"])
    [change] = plan([kept], recorded=[gone, kept])
    assert (change.action, change.name, change.node) == ("delete", "gone", None)
    assert change.reason == "its node left the project"
    assert "User:alice READ group alice.*" not in change.diff  # kept still grants it
    assert set(change.diff) == {"User:alice READ topic gone", "User:alice DESCRIBE topic gone"}


def test_a_node_that_stays_but_grants_nothing_any_more_is_revoked_on_a_plain_apply() -> None:
    before = acls("t", ORDERS, read=["User:alice"])
    [change] = plan([], project=[], recorded=[before], selected={ORDERS.uid})
    assert (change.action, change.node) == ("update", "model.orders")  # not held back
    assert change.payload["spec"] is None and len(change.payload["delete"]) == 3


def test_an_unselected_node_keeps_its_bindings() -> None:
    orders = acls("orders", ORDERS, read=["User:alice"])
    payments = acls("payments", PAYMENTS, read=["User:bob"])
    assert plan([payments], project=[orders, payments], recorded=[orders, payments]) == []


def test_destroy_deletes_what_sluice_recorded_except_what_a_staying_node_wants() -> None:
    orders = acls("orders", ORDERS, read=["User:alice"])
    payments = acls("payments", PAYMENTS, read=["User:alice"])
    foreign = Binding("TOPIC", "orders", "LITERAL", "User:dave", "*", "READ", "ALLOW")
    [change] = plan(
        [orders],
        project=[orders, payments],
        recorded=[orders, payments],
        live=bindings_of(orders, payments) | {foreign},
        destroy=True,
    )
    assert (change.action, change.name) == ("delete", "orders")
    assert set(change.diff) == {"User:alice READ topic orders", "User:alice DESCRIBE topic orders"}


def test_bindings_without_an_authorizer_are_a_plan_error() -> None:
    wanted = acls("t", ORDERS, read=["User:alice"])
    with pytest.raises(SluiceError, match="no authorizer"):
        plan([wanted], acls_enabled=False)
