"""access: as Console self-service objects, and runtime lineage from Console's consumer groups,
against a contract-checked, stateful fake Console (and the fake Gateway for the interceptors).

The story: the shop project serves two virtual topics; the billing team's application instance
(service account billing-svc) reads payments_clean, the fraud team's (fraud-svc) writes cards.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from .fake_console import FakeConsole, group, instance
from .fake_gateway import FakeGateway
from .test_conduktor import ENV, artifact_file, gateway_runtime, project_text

CLEAN = """  - name: payments_clean
    materialized: virtual_topic
    sql: SELECT payment_id, amount FROM {{ source("payments_raw") }} WHERE amount > 0
    access: { read: ["User:billing-svc"] }
"""
CARDS = """  - name: cards
    materialized: virtual_topic
    sql: SELECT payment_id, card_number FROM {{ source("payments_raw") }} WHERE amount > 10
    access: { write: ["User:fraud-svc"] }
"""
APP = "sluice-shop"
INSTANCE = "sluice-shop-local"
CLEAN_GRANT = f"{INSTANCE}.payments_clean.billing-prod"
CARDS_GRANT = f"{INSTANCE}.cards.fraud-prod"


@pytest.fixture
def teams(console: FakeConsole) -> FakeConsole:
    """Console with the billing and fraud teams' applications and instances on 'local'."""
    for team in ("billing", "fraud"):
        console.state.add(
            "application",
            {
                "apiVersion": "v1",
                "kind": "Application",
                "metadata": {"name": team},
                "spec": {"title": team.title(), "owner": f"{team}-team"},
            },
        )
    console.state.add(
        "application-instance", instance("billing", "billing-prod", "billing-svc", ("billing-",))
    )
    console.state.add("application-instance", instance("fraud", "fraud-prod", "fraud-svc"))
    return console


def runtime(gateway: FakeGateway, console: FakeConsole, owner: str | None = "data-platform") -> str:
    text = gateway_runtime(gateway, console)
    return text + (f"    application_owner: {owner}\n" if owner else "")


def write(project: Any, gateway: FakeGateway, console: FakeConsole, models: str, **kw: Any) -> None:
    project.write({"stream_project.yml": project_text(runtime(gateway, console, **kw), models)})


def ok(result: Any) -> Any:
    assert result.exit_code == 0, result.output
    return result


def puts(console: FakeConsole) -> list[str]:
    return [e.path for e in console.state.exchanges if e.method == "PUT"]


def deletes(console: FakeConsole) -> list[str]:
    return [e.path.rsplit("/", 1)[1] for e in console.state.exchanges if e.method == "DELETE"]


def shop(sluice_project: Any, gateway: FakeGateway, console: FakeConsole, models: str) -> Any:
    project = sluice_project({"stream_project.yml": "project: { name: shop }\n"})
    write(project, gateway, console, models)
    return project


# -- compile ----------------------------------------------------------------------------------


def test_access_compiles_to_the_grants_of_the_models_topic(
    sluice_project, only_conduktor, gateway: FakeGateway, console: FakeConsole
):
    project = shop(sluice_project, gateway, console, CLEAN + CARDS)
    ok(project.run("compile", env=ENV))
    assert artifact_file(project, "payments_clean.access.json") == {
        "topic": "payments_clean",
        "grants": [{"principal": "User:billing-svc", "permission": "READ"}],
        "required": True,
    }
    assert artifact_file(project, "cards.access.json")["grants"] == [
        {"principal": "User:fraud-svc", "permission": "WRITE"}
    ]


def test_access_on_a_virtual_topic_without_console_is_a_compile_error(
    sluice_project, only_conduktor, gateway: FakeGateway
):
    project = sluice_project({"stream_project.yml": project_text(gateway_runtime(gateway), CLEAN)})
    result = project.run("compile", env=ENV)
    assert result.exit_code != 0
    flat = " ".join(result.output.split())
    assert (
        "model 'payments_clean': access: on a virtual topic is granted through Conduktor "
        "Console's self-service, and runtime.conduktor.console_url is not configured" in flat
    )
    assert "Traceback" not in result.output


def test_a_principal_that_is_no_service_account_is_a_compile_error(
    sluice_project, only_conduktor, gateway: FakeGateway, console: FakeConsole
):
    models = CLEAN.replace("User:billing-svc", "Group:billing")
    project = shop(sluice_project, gateway, console, models)
    result = project.run("compile", env=ENV)
    assert result.exit_code != 0
    assert "access: names 'Group:billing'" in " ".join(result.output.split())


def test_every_self_service_body_conforms_to_the_console_contract(
    sluice_project, only_conduktor, gateway: FakeGateway, teams: FakeConsole
):
    project = shop(sluice_project, gateway, teams, CLEAN + CARDS)
    ok(project.run("apply", env=ENV))
    contract = teams.contract
    for kind, store in teams.state.objects.items():
        for body in store.values():
            raw = json.dumps(body).encode()
            assert contract.check_request("PUT", f"/api/public/self-serve/v1/{kind}", {}, raw) == []


# -- plan, apply, idempotence -------------------------------------------------------------------


def test_apply_creates_the_application_its_instance_and_the_grants_then_changes_nothing(
    sluice_project, only_conduktor, gateway: FakeGateway, teams: FakeConsole
):
    project = shop(sluice_project, gateway, teams, CLEAN + CARDS)
    plan = ok(project.run("plan", env=ENV)).output
    assert f"+ create application {APP} (conduktor)" in plan
    assert f"+ create application-instance {INSTANCE} (conduktor)" in plan
    assert (
        f"+ create application-instance-permission {CLEAN_GRANT} (conduktor)"
        "  # User:billing-svc is the service account of billing-prod" in plan
    )
    assert '    spec.permission: (none) -> "READ"' in plan

    ok(project.run("apply", env=ENV))
    state = teams.state
    assert state.applications[APP]["spec"] == {
        "title": "sluice project shop",
        "owner": "data-platform",
        "description": "managed by sluice (project shop): the access: of its models",
    }
    assert state.instances[INSTANCE]["spec"]["cluster"] == "local"
    assert [r["name"] for r in state.instances[INSTANCE]["spec"]["resources"]] == [
        "cards",
        "payments_clean",
    ]
    assert state.permissions[CLEAN_GRANT]["spec"] == {
        "resource": {"type": "TOPIC", "name": "payments_clean", "patternType": "LITERAL"},
        "permission": "READ",
        "grantedTo": "billing-prod",
    }
    assert state.permissions[CARDS_GRANT]["spec"]["permission"] == "WRITE"
    # the application first, then its instance, then the grants (Console refuses another order)
    assert puts(teams)[:2] == [
        "/api/public/self-serve/v1/application",
        "/api/public/self-serve/v1/application-instance",
    ]
    before = len(puts(teams))

    again = ok(project.run("plan", "--detailed-exitcode", env=ENV))
    assert "No changes" in again.output
    ok(project.run("apply", env=ENV))
    assert len(puts(teams)) == before


def test_a_reader_turned_writer_gets_its_grant_replaced(
    sluice_project, only_conduktor, gateway: FakeGateway, teams: FakeConsole
):
    project = shop(sluice_project, gateway, teams, CLEAN)
    ok(project.run("apply", env=ENV))
    write(project, gateway, teams, CLEAN.replace("read:", "write:"))
    plan = ok(project.run("plan", env=ENV)).output
    assert f"-/+ replace application-instance-permission {CLEAN_GRANT} (conduktor)" in plan
    assert 'spec.permission: "READ" -> "WRITE"' in plan
    ok(project.run("apply", env=ENV))
    assert teams.state.permissions[CLEAN_GRANT]["spec"]["permission"] == "WRITE"
    assert deletes(teams) == [CLEAN_GRANT]


def test_a_principal_removed_from_access_loses_its_grant(
    sluice_project, only_conduktor, gateway: FakeGateway, teams: FakeConsole
):
    both = CLEAN.replace('["User:billing-svc"]', '["User:billing-svc", "User:fraud-svc"]')
    project = shop(sluice_project, gateway, teams, both)
    ok(project.run("apply", env=ENV))
    assert f"{INSTANCE}.payments_clean.fraud-prod" in teams.state.permissions
    write(project, gateway, teams, CLEAN)
    plan = ok(project.run("plan", env=ENV)).output
    assert "no longer in access:" in plan and "pass --prune" not in plan
    ok(project.run("apply", env=ENV))
    assert sorted(teams.state.permissions) == [CLEAN_GRANT]


def test_a_removed_model_loses_its_grant_only_with_prune(
    sluice_project, only_conduktor, gateway: FakeGateway, teams: FakeConsole
):
    project = shop(sluice_project, gateway, teams, CLEAN + CARDS)
    ok(project.run("apply", env=ENV))
    write(project, gateway, teams, CLEAN)

    plan = ok(project.run("plan", env=ENV)).output
    assert f"- delete application-instance-permission {CARDS_GRANT} (conduktor)" in plan
    assert "pass --prune to delete" in plan
    # the instance keeps the topic its held grant is on
    assert "update application-instance" not in plan
    ok(project.run("apply", env=ENV))
    assert CARDS_GRANT in teams.state.permissions

    ok(project.run("apply", "--prune", env=ENV))
    assert sorted(teams.state.permissions) == [CLEAN_GRANT]
    resources = teams.state.instances[INSTANCE]["spec"]["resources"]
    assert [r["name"] for r in resources] == ["payments_clean"]
    assert "No changes" in ok(project.run("plan", "--prune", env=ENV)).output


def test_destroy_removes_every_self_service_object_sluice_made_and_nothing_else(
    sluice_project, only_conduktor, gateway: FakeGateway, teams: FakeConsole
):
    project = shop(sluice_project, gateway, teams, CLEAN + CARDS)
    ok(project.run("apply", env=ENV))
    ok(project.run("destroy", "--yes", env=ENV))
    assert sorted(teams.state.applications) == ["billing", "fraud"]
    assert sorted(teams.state.instances) == ["billing-prod", "fraud-prod"]
    assert teams.state.permissions == {}
    # grants, then the instance, then the application: what Console accepts
    assert deletes(teams)[-2:] == [INSTANCE, APP]


def test_an_application_sluice_does_not_manage_is_never_changed(
    sluice_project, only_conduktor, gateway: FakeGateway, teams: FakeConsole
):
    foreign = {
        "apiVersion": "v1",
        "kind": "Application",
        "metadata": {"name": APP},
        "spec": {"title": "Someone's", "owner": "billing-team"},
    }
    teams.state.add("application", foreign)
    project = shop(sluice_project, gateway, teams, CLEAN)
    result = project.run("plan", env=ENV)
    assert result.exit_code != 0
    assert f"Conduktor Console already has an application '{APP}' that sluice does not manage" in (
        " ".join(result.output.split())
    )
    assert puts(teams) == []


# -- what Console cannot grant, and its errors ---------------------------------------------------


def test_a_service_account_no_instance_has_fails_the_plan_for_a_virtual_topic(
    sluice_project, only_conduktor, gateway: FakeGateway, teams: FakeConsole
):
    project = shop(sluice_project, gateway, teams, CLEAN.replace("billing-svc", "ghost-svc"))
    result = project.run("plan", env=ENV)
    assert result.exit_code != 0
    flat = " ".join(result.output.split())
    assert (
        "topic 'payments_clean' grants access to User:ghost-svc, but no application instance in "
        "Conduktor Console has the service account 'ghost-svc' on cluster 'local'" in flat
    )


def test_console_business_rule_errors_are_shown_in_its_words(
    sluice_project, only_conduktor, gateway: FakeGateway, teams: FakeConsole
):
    project = sluice_project({"stream_project.yml": "project: { name: shop }\n"})
    write(project, gateway, teams, CLEAN, owner="nobody")
    result = project.run("apply", env=ENV)
    assert result.exit_code != 0
    assert (
        "Conduktor Console answered PUT /public/self-serve/v1/application with 409: "
        "The request does not match one of the business rules: the owner group 'nobody' does "
        "not exist" in " ".join(result.output.split())
    )


def test_without_an_owner_group_the_plan_says_which_setting_to_add(
    sluice_project, only_conduktor, gateway: FakeGateway, teams: FakeConsole
):
    project = sluice_project({"stream_project.yml": "project: { name: shop }\n"})
    write(project, gateway, teams, CLEAN, owner=None)
    result = project.run("plan", env=ENV)
    assert result.exit_code != 0
    assert "runtime.conduktor.application_owner is not set" in " ".join(result.output.split())


def test_several_console_clusters_need_console_cluster(
    sluice_project, only_conduktor, gateway: FakeGateway, teams: FakeConsole
):
    from .fake_console import cluster

    teams.state.clusters.append(cluster("prod"))
    project = shop(sluice_project, gateway, teams, CLEAN)
    result = project.run("plan", env=ENV)
    assert result.exit_code != 0
    flat = " ".join(result.output.split())
    assert "Conduktor Console knows 2 Kafka clusters (local, prod)" in flat
    assert "set runtime.conduktor.console_cluster" in flat

    text = project_text(runtime(gateway, teams) + "    console_cluster: local\n", CLEAN)
    project.write({"stream_project.yml": text})
    ok(project.run("apply", env=ENV))
    assert teams.state.instances[INSTANCE]["spec"]["cluster"] == "local"


# -- runtime lineage and status -------------------------------------------------------------------

EXPOSURE = """exposures:
  - name: fraud_board
    type: dashboard
    consumer_group: fraud-board
    depends_on: [ref("cards")]
"""


@pytest.fixture
def readers(teams: FakeConsole) -> FakeConsole:
    teams.state.consumer_groups["local"] = [
        group("billing-payments", ("payments_clean",), 12),
        group("fraud-board", ("cards",), 0, state="Empty"),
        group("adhoc", ("payments_clean", "elsewhere"), 3),
        group("unrelated", ("elsewhere",), 99),
        {"name": "new-group", "type": "NotIndexedConsumerGroup"},
    ]
    return teams


def lineage_project(sluice_project: Any, gateway: FakeGateway, console: FakeConsole) -> Any:
    text = project_text(runtime(gateway, console), CLEAN + CARDS) + EXPOSURE
    return sluice_project({"stream_project.yml": text})


def test_live_lineage_names_the_groups_and_applications_reading_each_topic(
    sluice_project, only_conduktor, gateway: FakeGateway, readers: FakeConsole, monkeypatch
):
    import sluice_conduktor.console

    monkeypatch.setattr(sluice_conduktor.console, "GROUPS_PER_PAGE", 2)  # three pages
    project = lineage_project(sluice_project, gateway, readers)
    result = ok(project.run("lineage", "--live", "--output", "json", env=ENV))
    edges = {(e["source"], e["target"]): e for e in result.json()["edges"]}
    billing = edges[("model.payments_clean", "consumer_group:billing-payments")]
    assert billing["kind"] == "consumes"
    assert billing["detail"] == {
        "topic": "payments_clean",
        "consumer_group": "billing-payments",
        "state": "Stable",
        "members": 1,
        "lag": 12,
        "max_lag_seconds": 1,
        "application": "billing",
        "application_instance": "billing-prod",
    }
    assert edges[("consumer_group:billing-payments", "application:billing")]["kind"] == "belongs_to"
    assert edges[("model.cards", "exposure.fraud_board")]["detail"]["lag"] == 0
    assert edges[("model.payments_clean", "consumer_group:adhoc")]["detail"]["lag"] == 3
    assert not any("unrelated" in t or "new-group" in t for _, t in edges)
    pages = [e.body["page"] for e in readers.state.exchanges if e.method == "POST"]
    assert pages == [1, 2, 3]

    tree = ok(project.run("lineage", "--live", env=ENV)).output
    assert "consumer_group:billing-payments  [lag 12]" in tree
    assert "application:billing" in tree
    offline = ok(project.run("lineage", "--output", "json", env=ENV)).json()
    assert all(e["kind"] == "data" for e in offline["edges"])


def test_status_shows_the_grants_and_the_groups_reading_each_topic_with_their_lag(
    sluice_project, only_conduktor, gateway: FakeGateway, readers: FakeConsole
):
    project = lineage_project(sluice_project, gateway, readers)
    ok(project.run("apply", env=ENV))
    items = ok(project.run("status", "--output", "json", env=ENV)).json()
    found = {(i["node"], i["resource"]): i for i in items}
    access = found[("model.payments_clean", "access:payments_clean")]
    assert access["state"] == "ACTIVE"
    assert access["detail"]["granted"] == ["User:billing-svc READ"]
    billing = found[("model.payments_clean", "group:billing-payments")]
    assert billing["state"] == "STABLE"
    assert billing["detail"]["lag"] == 12 and billing["detail"]["application"] == "billing"
    assert found[("model.cards", "group:fraud-board")]["state"] == "EMPTY"

    del readers.state.permissions[CLEAN_GRANT]
    text = ok(project.run("status", env=ENV)).output
    assert "access:payments_clean" in text and "MISSING" in text
    assert "group:billing-payments" in text and "lag=12" in text


# -- a real topic: Kafka ACLs grant it too ------------------------------------------------------


def test_on_a_real_topic_a_principal_console_cannot_place_is_only_noted(
    sluice_project, monkeypatch, gateway: FakeGateway, teams: FakeConsole
):
    from pathlib import Path

    from sluice.runtime import RunContext
    from sluice.session import Session
    from sluice_conduktor import rbac_planner

    monkeypatch.setenv("SLUICE_DISABLE_PLUGINS", "redpanda,connect")
    for name, value in ENV.items():
        monkeypatch.setenv(name, value)
    kafka = (
        '  kafka: { bootstrap_servers: "broker:9092" }\n  flink: { rest_url: "http://f:8081" }\n'
    )
    model = CLEAN.replace("virtual_topic", "topic").replace(
        '["User:billing-svc"]', '["User:billing-svc", "User:ghost-svc"]'
    )
    project = sluice_project(
        {"stream_project.yml": project_text(kafka + runtime(gateway, teams), model)}
    )
    session = Session(Path(project.path), probe=False)
    notes: list[str] = []
    manifest = session.manifest
    context = RunContext(
        session.project,
        manifest,
        session.capabilities,
        frozenset(manifest.nodes),
        echo=notes.append,
    )
    access = [a for a in manifest.artifacts["model.payments_clean"] if a.kind == "access"]
    assert access[0].spec["required"] is False
    changes = rbac_planner.plan(manifest.all_artifacts(), context)
    assert [(c.action, c.kind, c.name) for c in changes] == [
        ("create", "application-instance-permission", CLEAN_GRANT),
        ("create", "application", APP),
        ("create", "application-instance", INSTANCE),
    ]
    assert notes == [
        "note: no application instance in Conduktor Console has the service account "
        "'ghost-svc' on cluster 'local': Kafka ACLs alone grant User:ghost-svc access to topic "
        "'payments_clean'"
    ]
