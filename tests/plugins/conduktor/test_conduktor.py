"""sluice-conduktor: virtual topics and masking at Conduktor Gateway, against contract-checked fakes."""

from __future__ import annotations

import json
from typing import Any

import pytest

from .contract import Contract
from .fake_console import API_KEY, FakeConsole
from .fake_gateway import PASSWORD, USER, FakeGateway

SOURCES = """sources:
  - name: payments_raw
    topic: payments.raw.v1
    columns:
      - { name: payment_id, type: STRING }
      - { name: card_number, type: STRING, classification: sensitive }
      - { name: country, type: STRING }
      - { name: amount, type: "DECIMAL(12,2)" }
"""
OFFLINE = "  conduktor: { proxy_url: http://gateway:8888, proxy_password: pw }\n"
KAFKA_FLINK = (
    '  kafka: { bootstrap_servers: "broker:9092" }\n  flink: { rest_url: "http://flink:8081" }\n'
)
CLEAN = """  - name: payments_clean
    materialized: virtual_topic
    sql: |
      SELECT payment_id, amount, CASE WHEN amount > 100 THEN 'big' ELSE 'small' END AS size
      FROM {{ source("payments_raw") }}
      WHERE amount > 0 AND country REGEXP 'FR|DE' AND payment_id <> ''
"""
MASKED = """  - name: cards
    materialized: virtual_topic
    sql: SELECT payment_id, card_number FROM {{ source("payments_raw") }} WHERE amount >= 10
    mask:
      card_number: { rule: mask_last, keep: 4, char: X }
      payment_id: { rule: mask_all }
"""
SUBSET = (
    "one input; a WHERE of comparisons =, >, >=, <, <=, <> and REGEXP joined by AND; "
    "columns, literals and CASE in the select list"
)


def project_text(runtime: str, models: str) -> str:
    return f"project: {{ name: shop }}\nruntime:\n{runtime}{SOURCES}models:\n{models}"


def gateway_runtime(gateway: FakeGateway, console: FakeConsole | None = None) -> str:
    text = (
        "  conduktor:\n"
        f"    proxy_url: {gateway.url}\n"
        "    proxy_bootstrap: localhost:6969\n"
        f"    proxy_user: {USER}\n"
        "    proxy_password: ${GATEWAY_PASSWORD}\n"
    )
    if console is not None:
        text += f"    console_url: {console.url}\n    api_key: ${{CONDUKTOR_API_KEY}}\n"
    return text


ENV = {"GATEWAY_PASSWORD": PASSWORD, "CONDUKTOR_API_KEY": API_KEY}


def compiled(project: Any) -> dict[str, Any]:
    manifest: dict[str, Any] = project.manifest()
    return manifest


def artifact_file(project: Any, name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((project.path / "target" / "conduktor" / name).read_text())
    return data


# -- compile errors ---------------------------------------------------------------------------


def test_a_virtual_topic_without_the_plugin_names_the_distribution(
    sluice_project, without_conduktor
):
    project = sluice_project({"stream_project.yml": project_text(KAFKA_FLINK, CLEAN)})
    result = project.run("compile")
    assert result.exit_code != 0
    assert (
        "model 'payments_clean': materialized: virtual_topic needs the plugin distribution "
        "'sluice-conduktor', which is not installed" in result.output
    )
    assert "pip install sluice-conduktor" in result.output
    assert "Traceback" not in result.output


def test_a_virtual_topic_without_runtime_conduktor_names_the_runtime_key(
    sluice_project, only_conduktor
):
    project = sluice_project({"stream_project.yml": project_text("  {}\n", CLEAN)})
    result = project.run("compile")
    assert result.exit_code != 0
    assert "needs the capability 'virtual_topics'" in result.output
    assert "configure runtime.conduktor (plugin 'conduktor' provides it)" in result.output


@pytest.mark.parametrize(
    ("where", "construct"),
    [
        ("amount > 0 OR country = 'FR'", "OR in a condition"),
        ("country IN ('FR', 'DE')", "IN in a condition"),
        ("country IS NULL", "IS NULL in a condition"),
        ("country IS NOT NULL", "IS NOT NULL in a condition"),
        ("country LIKE 'F%'", "LIKE in a condition"),
        ("amount BETWEEN 1 AND 2", "BETWEEN in a condition"),
        ("NOT amount = 1", "NOT in a condition"),
        ("UPPER(country) = 'FR'", "the function UPPER()"),
    ],
)
def test_sql_the_gateway_cannot_run_is_a_compile_error_naming_the_construct(
    sluice_project, only_conduktor, where, construct
):
    model = f"""  - name: picky
    materialized: virtual_topic
    sql: SELECT payment_id FROM {{{{ source("payments_raw") }}}} WHERE {where}
"""
    project = sluice_project({"stream_project.yml": project_text(OFFLINE, model)})
    result = project.run("compile")
    assert result.exit_code != 0
    assert (
        f"model 'picky': cannot be materialized as virtual_topic: its SQL uses {construct}, "
        f"which the Conduktor Gateway's SQL topics cannot run (they take {SUBSET}); "
        "materialized: topic runs it as a Flink job instead"
    ) in " ".join(result.output.split())


@pytest.mark.parametrize(
    ("sql", "construct"),
    [
        (
            'SELECT country, COUNT(*) AS n FROM {{ source("payments_raw") }} GROUP BY country',
            "GROUP BY (an aggregation)",
        ),
        (
            'SELECT a.payment_id FROM {{ source("payments_raw") }} AS a '
            'JOIN {{ ref("other") }} AS b ON a.payment_id = b.payment_id',
            "several inputs (payments_raw, other)",
        ),
        ('SELECT amount * 2 AS twice FROM {{ source("payments_raw") }}', "the arithmetic"),
    ],
)
def test_joins_aggregates_and_expressions_are_refused(
    sluice_project, only_conduktor, sql, construct
):
    other = """  - name: other
    materialized: virtual_topic
    sql: SELECT payment_id FROM {{ source("payments_raw") }}
"""
    model = f"  - name: picky\n    materialized: virtual_topic\n    sql: '{sql}'\n"
    project = sluice_project({"stream_project.yml": project_text(OFFLINE, other + model)})
    result = project.run("compile")
    assert result.exit_code != 0
    flat = " ".join(result.output.split())
    assert (
        f"model 'picky': cannot be materialized as virtual_topic: its SQL uses {construct}" in flat
    )


# -- inference --------------------------------------------------------------------------------

INFERRED = """  - name: fits
    sql: SELECT payment_id, amount FROM {{ source("payments_raw") }} WHERE amount > 0
  - name: does_not_fit
    sql: SELECT payment_id FROM {{ source("payments_raw") }} WHERE country IN ('FR', 'DE')
"""


def test_inference_picks_virtual_topic_only_for_sql_that_fits(sluice_project, monkeypatch):
    monkeypatch.setenv("SLUICE_DISABLE_PLUGINS", "connect")
    project = sluice_project({"stream_project.yml": project_text(KAFKA_FLINK + OFFLINE, INFERRED)})
    result = project.run("compile")
    assert result.exit_code == 0, result.output
    nodes = compiled(project)["nodes"]
    assert nodes["model.fits"]["materialized"] == "virtual_topic"
    assert nodes["model.does_not_fit"]["materialized"] == "topic"


def test_inference_picks_topic_when_conduktor_is_not_configured(sluice_project, monkeypatch):
    monkeypatch.setenv("SLUICE_DISABLE_PLUGINS", "connect")
    project = sluice_project({"stream_project.yml": project_text(KAFKA_FLINK, INFERRED)})
    result = project.run("compile")
    assert result.exit_code == 0, result.output
    nodes = compiled(project)["nodes"]
    assert nodes["model.fits"]["materialized"] == "topic"
    assert nodes["model.does_not_fit"]["materialized"] == "topic"


# -- artifacts --------------------------------------------------------------------------------


def test_a_virtual_topic_compiles_to_the_sql_topic_interceptor_body(sluice_project, only_conduktor):
    project = sluice_project({"stream_project.yml": project_text(OFFLINE, CLEAN)})
    result = project.run("compile")
    assert result.exit_code == 0, result.output
    assert artifact_file(project, "payments_clean.sql.json") == {
        "kind": "Interceptor",
        "apiVersion": "gateway/v2",
        "metadata": {"name": "sluice.shop.payments_clean.sql", "scope": {}},
        "spec": {
            "comment": "managed by sluice (project shop): virtual topic of model payments_clean",
            "pluginClass": "io.conduktor.gateway.interceptor.VirtualSqlTopicPlugin",
            "priority": 100,
            "config": {
                "virtualTopic": "payments_clean",
                "statement": "SELECT payment_id, amount, "
                "CASE WHEN amount > 100 THEN 'big' ELSE 'small' END AS size "
                'FROM "payments.raw.v1" '
                "WHERE amount > 0 AND country REGEXP 'FR|DE' AND payment_id <> ''",
            },
        },
    }
    # a virtual topic is no real topic: nothing else is compiled for it
    artifacts = compiled(project)["nodes"]["model.payments_clean"]["artifacts"]
    assert [(a["plugin"], a["kind"]) for a in artifacts] == [("conduktor", "interceptor")]


def test_the_virtual_cluster_scopes_the_interceptors(sluice_project, only_conduktor):
    runtime = "  conduktor: { proxy_url: http://gw:8888, virtual_cluster: team-a }\n"
    project = sluice_project({"stream_project.yml": project_text(runtime, CLEAN)})
    assert project.run("compile").exit_code == 0
    body = artifact_file(project, "payments_clean.sql.json")
    assert body["metadata"]["scope"] == {"vCluster": "team-a"}


def test_mask_compiles_to_a_field_level_masking_interceptor_on_the_model_topic(
    sluice_project, only_conduktor
):
    project = sluice_project({"stream_project.yml": project_text(OFFLINE, MASKED)})
    result = project.run("compile")
    assert result.exit_code == 0, result.output
    assert artifact_file(project, "cards.mask.json") == {
        "kind": "Interceptor",
        "apiVersion": "gateway/v2",
        "metadata": {"name": "sluice.shop.cards.mask", "scope": {}},
        "spec": {
            "comment": "managed by sluice (project shop): masking of model cards",
            "pluginClass": "io.conduktor.gateway.interceptor.FieldLevelDataMaskingPlugin",
            "priority": 200,
            "config": {
                "topic": "^cards$",
                "policies": [
                    {
                        "name": "mask_last card_number",
                        "fields": ["card_number"],
                        "rule": {"type": "MASK_LAST_N", "maskingChar": "X", "numberOfChars": 4},
                    },
                    {
                        "name": "mask_all payment_id",
                        "fields": ["payment_id"],
                        "rule": {"type": "MASK_ALL", "maskingChar": "*"},
                    },
                ],
            },
        },
    }


def test_a_mask_rule_without_a_gateway_equivalent_is_an_error(sluice_project, only_conduktor):
    model = MASKED.replace("rule: mask_all", "rule: 'null'")
    project = sluice_project({"stream_project.yml": project_text(OFFLINE, model)})
    result = project.run("compile")
    assert result.exit_code != 0
    assert (
        "model 'cards': mask rule 'null' of column 'payment_id' has no equivalent in the "
        "Gateway's FieldLevelDataMaskingPlugin" in " ".join(result.output.split())
    )


def test_compiled_bodies_conform_to_the_contract(
    sluice_project, only_conduktor, gateway_contract: Contract
):
    project = sluice_project({"stream_project.yml": project_text(OFFLINE, CLEAN + MASKED)})
    assert project.run("compile").exit_code == 0
    for name in ("payments_clean.sql.json", "cards.sql.json", "cards.mask.json"):
        body = json.dumps(artifact_file(project, name)).encode()
        assert gateway_contract.check_request("PUT", "/gateway/v2/interceptor", {}, body) == []


# -- the contract checker is not vacuous ------------------------------------------------------


def test_the_contract_checker_rejects_what_the_api_does_not_accept(gateway_contract: Contract):
    no_priority = {
        "kind": "Interceptor",
        "apiVersion": "gateway/v2",
        "metadata": {"name": "x"},
        "spec": {"pluginClass": "p", "config": {}},
    }
    problems = gateway_contract.check_request(
        "PUT", "/gateway/v2/interceptor", {}, json.dumps(no_priority).encode()
    )
    assert problems == ["spec: 'priority' is a required property"]
    assert gateway_contract.check_request("DELETE", "/gateway/v2/interceptor/x", {}, b"") == [
        "the required JSON body is missing"
    ]
    assert gateway_contract.check_request("GET", "/gateway/v2/interceptor", {"all": ["1"]}, b"")
    assert gateway_contract.check_response(
        "PUT", "/gateway/v2/interceptor", 200, "application/json", b'{"upsertResult": "CREATED"}'
    ) == ["(body): 'resource' is a required property"]


# -- probe, plan, apply, prune against the fakes ------------------------------------------------


def test_probe_reports_gateway_version_and_capabilities(
    sluice_project, only_conduktor, gateway: FakeGateway, console: FakeConsole
):
    project = sluice_project(
        {"stream_project.yml": project_text(gateway_runtime(gateway, console), CLEAN)}
    )
    result = project.run("plugins", "--output", "json", env=ENV)
    assert result.exit_code == 0, result.output
    text = result.output
    assert "3.9.0" in text
    for capability in ("virtual_topics", "masking", "rbac", "runtime_lineage"):
        assert capability in text
    assert PASSWORD not in text and API_KEY not in text


def test_probe_without_the_sql_plugin_offers_no_virtual_topics(
    sluice_project, only_conduktor, gateway: FakeGateway
):
    gateway.state.plugins = ("io.conduktor.gateway.interceptor.FieldLevelDataMaskingPlugin",)
    project = sluice_project({"stream_project.yml": project_text(gateway_runtime(gateway), CLEAN)})
    result = project.run("plan", env=ENV)
    assert result.exit_code != 0
    assert "needs the capability 'virtual_topics'" in result.output


def test_apply_creates_the_interceptors_and_a_second_apply_changes_nothing(
    sluice_project, only_conduktor, gateway: FakeGateway
):
    models = CLEAN + MASKED
    project = sluice_project({"stream_project.yml": project_text(gateway_runtime(gateway), models)})
    plan = project.run("plan", env=ENV)
    assert plan.exit_code == 0, plan.output
    assert "+ create interceptor sluice.shop.cards.mask (conduktor)" in plan.output
    assert "Plan: 3 to create, 0 to update, 0 to replace, 0 to delete." in plan.output

    applied = project.run("apply", env=ENV)
    assert applied.exit_code == 0, applied.output
    assert sorted(name for name, _ in gateway.state.interceptors) == [
        "sluice.shop.cards.mask",
        "sluice.shop.cards.sql",
        "sluice.shop.payments_clean.sql",
    ]
    assert project.run("compile", env=ENV).exit_code == 0
    stored = gateway.state.interceptors[("sluice.shop.cards.mask", ())]
    assert stored == artifact_file(project, "cards.mask.json")
    puts = [e for e in gateway.state.exchanges if e.method == "PUT"]
    assert len(puts) == 3

    again = project.run("plan", "--detailed-exitcode", env=ENV)
    assert again.exit_code == 0, again.output
    assert "No changes" in again.output
    project.run("apply", env=ENV)
    assert len([e for e in gateway.state.exchanges if e.method == "PUT"]) == 3


def test_a_changed_model_updates_its_interceptor(
    sluice_project, only_conduktor, gateway: FakeGateway
):
    project = sluice_project({"stream_project.yml": project_text(gateway_runtime(gateway), CLEAN)})
    assert project.run("apply", env=ENV).exit_code == 0
    project.write(
        {"stream_project.yml": project_text(gateway_runtime(gateway), CLEAN.replace("> 0", "> 5"))}
    )
    plan = project.run("plan", env=ENV)
    assert "~ update interceptor sluice.shop.payments_clean.sql (conduktor)" in plan.output
    assert "spec.config:" in plan.output
    assert project.run("apply", env=ENV).exit_code == 0
    stored = gateway.state.interceptors[("sluice.shop.payments_clean.sql", ())]
    assert "amount > 5" in stored["spec"]["config"]["statement"]


def test_a_removed_model_is_pruned_only_with_prune(
    sluice_project, only_conduktor, gateway: FakeGateway
):
    foreign = {
        "kind": "Interceptor",
        "apiVersion": "gateway/v2",
        "metadata": {"name": "someone-elses", "scope": {}},
        "spec": {"pluginClass": "x.Y", "priority": 1, "config": {}},
    }
    gateway.state.interceptors[("someone-elses", ())] = foreign
    project = sluice_project(
        {"stream_project.yml": project_text(gateway_runtime(gateway), CLEAN + MASKED)}
    )
    assert project.run("apply", env=ENV).exit_code == 0
    project.write({"stream_project.yml": project_text(gateway_runtime(gateway), CLEAN)})

    plan = project.run("plan", env=ENV)
    assert "- delete interceptor sluice.shop.cards.sql (conduktor)" in plan.output
    assert "pass --prune to delete" in plan.output
    assert "someone-elses" not in plan.output
    assert project.run("apply", env=ENV).exit_code == 0
    assert ("sluice.shop.cards.sql", ()) in gateway.state.interceptors

    pruned = project.run("apply", "--prune", env=ENV)
    assert pruned.exit_code == 0, pruned.output
    assert sorted(name for name, _ in gateway.state.interceptors) == [
        "sluice.shop.payments_clean.sql",
        "someone-elses",
    ]
    deletes = [e for e in gateway.state.exchanges if e.method == "DELETE"]
    # the virtual topic goes first, its masking after: never an unmasked moment
    assert [(e.path, e.body, e.status) for e in deletes] == [
        ("/gateway/v2/interceptor/sluice.shop.cards.sql", {}, 204),
        ("/gateway/v2/interceptor/sluice.shop.cards.mask", {}, 204),
    ]


def test_gateway_errors_are_reported_with_the_api_title(
    sluice_project, only_conduktor, gateway: FakeGateway
):
    runtime = gateway_runtime(gateway) + "    virtual_cluster: nowhere\n"
    project = sluice_project({"stream_project.yml": project_text(runtime, CLEAN)})
    result = project.run("apply", env=ENV)
    assert result.exit_code != 0
    assert (
        "answered PUT /gateway/v2/interceptor with 404: The virtual cluster or the group "
        "specified in the scope does not exist" in " ".join(result.output.split())
    )


def test_wrong_credentials_are_reported_without_the_password(
    sluice_project, only_conduktor, gateway: FakeGateway
):
    project = sluice_project({"stream_project.yml": project_text(gateway_runtime(gateway), CLEAN)})
    result = project.run("plan", env={**ENV, "GATEWAY_PASSWORD": "wrong-secret"})
    assert result.exit_code != 0
    assert (
        "The given credentials are not valid" in result.output or "virtual_topics" in result.output
    )
    assert "wrong-secret" not in result.output


def test_the_design_example_validates_in_enhanced_mode(sluice_project, monkeypatch):
    """DESIGN §2's example with its runtime.conduktor block (the redpanda block removed)."""
    import re
    from pathlib import Path

    example = (Path(__file__).parents[1] / "design_example" / "stream_project.yml").read_text()
    text = re.sub(r"\n  redpanda:[^\n]*\n[^\n]*", "", example)
    monkeypatch.setenv("SLUICE_DISABLE_PLUGINS", "redpanda")
    env = {
        "KAFKA_BOOTSTRAP": "localhost:9092",
        "SR_URL": "http://localhost:8081",
        "FLINK_REST_URL": "http://localhost:8082",
        "FLINK_SQL_GATEWAY_URL": "http://localhost:8083",
        "CONNECT_REST_URL": "http://localhost:8084",
        "PROXY_URL": "http://localhost:8888",
        "CONSOLE_URL": "http://localhost:8080",
        "CONDUKTOR_API_KEY": "conduktor-key-secret",
        "PG_JDBC_URL": "jdbc:postgresql://db/ledger",
    }
    project = sluice_project({"stream_project.yml": text})
    result = project.run("compile", env=env)
    assert result.exit_code == 0, result.output
    nodes = project.manifest()["nodes"]
    assert nodes["model.payments_clean"]["materialized"] == "topic"  # declared explicitly
