"""SASL/SCRAM users for the principals of access:, against the stateful fake Admin API."""

from __future__ import annotations

import json
from typing import Any

import pytest

from .fake_admin import FakeAdmin
from .shop import everything_written, flat, line_of, make, rewrite

READER_PASSWORD = "rd-Secret-1234"
WRITER_PASSWORD = "wr-Secret-5678"
ENV = {"ORDERS_READER_PASSWORD": READER_PASSWORD, "ORDERS_WRITER_PASSWORD": WRITER_PASSWORD}
MODELS = """  - name: orders_clean
    materialized: transform
    from: orders_raw
    transform: { wasm: transforms/clean.wasm }
    access: { read: [User:orders_reader, User:analyst], write: User:orders_writer }
  - name: orders_copy
    materialized: transform
    from: orders_raw
    transform: { wasm: transforms/clean.wasm }
    access: { read: [User:orders_reader] }
"""


def runtime(admin: FakeAdmin, reader: str = "${ORDERS_READER_PASSWORD}") -> str:
    return (
        f"  redpanda:\n    admin_url: {admin.url}\n    create_users: true\n"
        "    scram_mechanism: SCRAM-SHA-512\n    users:\n"
        f'      orders_reader: "{reader}"\n'
        "      orders_writer: ${ORDERS_WRITER_PASSWORD}\n"
        "      analyst: ${ORDERS_READER_PASSWORD}\n"
    )


@pytest.fixture
def shop(sluice_project: Any, only_redpanda: None, admin: FakeAdmin) -> Any:
    admin.state.users["analyst"] = ("made-by-hand", "SCRAM-SHA-256")  # exists already
    return make(sluice_project, runtime(admin), MODELS)


def user_changes(admin: FakeAdmin) -> list[tuple[str, str, int]]:
    return [
        (e.method, e.path, e.status)
        for e in admin.state.exchanges
        if "/security/users" in e.path and e.method != "GET"
    ]


def test_missing_users_are_created_once_with_their_passwords(shop, admin: FakeAdmin):
    plan = shop.run("plan", env=ENV)
    assert plan.exit_code == 0, plan.output
    assert plan.stdout.count("+ create user orders_reader (redpanda)") == 1
    assert "+ create user orders_writer (redpanda)" in plan.stdout
    assert "create user analyst" not in plan.stdout  # it exists: left as it is

    applied = shop.run("apply", env=ENV)
    assert applied.exit_code == 0, applied.output
    assert admin.state.users == {
        "analyst": ("made-by-hand", "SCRAM-SHA-256"),
        "orders_reader": (READER_PASSWORD, "SCRAM-SHA-512"),
        "orders_writer": (WRITER_PASSWORD, "SCRAM-SHA-512"),
    }
    bodies = [e.metadata for e in admin.state.exchanges if e.path == "/v1/security/users"]
    assert {"username", "password", "algorithm"} == set(bodies[-1])

    again = shop.run("plan", "--detailed-exitcode", env=ENV)
    assert again.exit_code == 0, again.output
    shown = plan.output + applied.output + again.output + everything_written(shop)
    assert READER_PASSWORD not in shown and WRITER_PASSWORD not in shown
    ledger = json.loads((shop.path / ".sluice" / "redpanda" / "users.json").read_text())
    assert ledger == {admin.url: ["orders_reader", "orders_writer"]}


def test_only_users_sluice_created_are_pruned(shop, admin: FakeAdmin):
    assert shop.run("apply", env=ENV).exit_code == 0
    without_writer = MODELS.replace(", write: User:orders_writer", "").replace(", User:analyst", "")
    rewrite(shop, runtime(admin), without_writer)

    plan = shop.run("plan", env=ENV)
    assert "- delete user orders_writer (redpanda)" in plan.stdout
    assert "pass --prune to delete" in plan.stdout
    assert "delete user analyst" not in plan.stdout  # not sluice's
    assert "warning: runtime.redpanda.users.analyst: no access: block names User:analyst" in (
        plan.stdout
    )

    pruned = shop.run("apply", "--prune", env=ENV)
    assert pruned.exit_code == 0, pruned.output
    assert sorted(admin.state.users) == ["analyst", "orders_reader"]
    assert user_changes(admin)[-1] == ("DELETE", "/v1/security/users/orders_writer", 200)


def test_a_literal_password_is_a_compile_error(sluice_project, only_redpanda, admin):
    project = make(sluice_project, runtime(admin, reader="hunter2-literal"), MODELS)

    result = project.run("compile", env=ENV)

    assert result.exit_code != 0
    line = line_of(project, "hunter2-literal")
    assert (
        f"stream_project.yml:{line}:22: runtime.redpanda.users.orders_reader is a literal "
        "password; passwords come from environment variables only" in flat(result.output)
    )
    assert "${ORDERS_READER_PASSWORD}" in result.output


def test_a_principal_without_a_password_is_a_compile_error(sluice_project, only_redpanda, admin):
    models = MODELS.replace("User:orders_writer", "User:auditor")
    project = make(sluice_project, runtime(admin), models)

    result = project.run("compile", env=ENV)

    assert result.exit_code != 0
    line = line_of(project, "User:auditor")
    column = (
        (project.path / "stream_project.yml")
        .read_text()
        .splitlines()[line - 1]
        .index("User:auditor")
    )
    assert (
        f"stream_project.yml:{line}:{column + 1}: model 'orders_clean': access.write names User:auditor, "
        "and create_users is on, but runtime.redpanda.users has no password for it"
        in flat(result.output)
    )
    assert "add runtime.redpanda.users.auditor: ${AUDITOR_PASSWORD}" in result.output


def test_users_without_create_users_is_refused(sluice_project, only_redpanda, admin):
    text = runtime(admin).replace("    create_users: true\n", "")
    project = make(sluice_project, text, MODELS)

    result = project.run("compile", env=ENV)

    assert result.exit_code != 0
    assert "set create_users: true as well" in flat(result.output)


def test_an_api_error_comes_back_in_its_own_words(shop, admin: FakeAdmin):
    # someone creates the user between plan and apply
    class Racing(dict[str, Any]):
        def __contains__(self, name: object) -> bool:
            return name == "orders_writer" or dict.__contains__(self, name)

    admin.state.users = Racing(admin.state.users)

    result = shop.run("apply", env=ENV)

    assert result.exit_code != 0
    assert "answered POST /v1/security/users with 400: Creating user: User already exists" in flat(
        result.output
    )
    assert WRITER_PASSWORD not in result.output


def test_destroy_deletes_only_the_users_sluice_created(shop, admin: FakeAdmin):
    assert shop.run("apply", env=ENV).exit_code == 0

    result = shop.run("destroy", "--yes", env=ENV)

    assert result.exit_code == 0, result.output
    assert sorted(admin.state.users) == ["analyst"]
    ledger = json.loads((shop.path / ".sluice" / "redpanda" / "users.json").read_text())
    assert ledger == {admin.url: []}
