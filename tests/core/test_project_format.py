"""The project format, told as stories: what a user writes, and what `sluice validate` answers.

Every story runs the real CLI on files in a temporary project, with the test plugin
``stream_plugin`` installed (it owns ``runtime.stream`` and the kinds ``topic`` and ``flink``).
"""

from __future__ import annotations

from pathlib import Path

import pytest
import stream_plugin

from sluice.errors import ProjectError, ProjectErrors
from sluice.project import load_project

pytestmark = pytest.mark.usefixtures("stream_installed")

PROJECT = """
project:
  name: demo
runtime:
  stream:
    servers: ${SERVERS:-localhost:9092}
"""

SOURCES = """
sources:
  - name: payments_raw
    topic: payments.raw.v1
    columns:
      - { name: payment_id, type: STRING }
      - { name: amount, type: "DECIMAL(12,2)" }
      - { name: ts, type: "TIMESTAMP(3)" }
"""

MODEL_SQL = "SELECT payment_id, amount FROM {{ source('payments_raw') }} WHERE amount > 0\n"


def load(path: Path, env: str | None = None, environ: dict[str, str] | None = None):
    return load_project(
        path, env=env, sections=stream_plugin.manager().config_sections(), environ=environ or {}
    )


# -- unknown keys ------------------------------------------------------------------------------


def test_a_misspelt_model_key_is_named_with_its_position_and_the_right_spelling(sluice_project):
    project = sluice_project(
        {
            "stream_project.yml": PROJECT + SOURCES,
            "models/a.yml": """
            models:
              - name: a
                descripton: Valid payments only
                sql: SELECT payment_id FROM {{ source("payments_raw") }}
            """,
        }
    )

    result = project.run("validate")

    assert result.exit_code == 1
    assert result.output == (
        "error: models/a.yml:3:5: unknown key 'descripton' in model 'a'\n"
        "  hint: did you mean 'description'?\n"
    )


def test_a_misspelt_top_level_key_is_an_error_not_silently_dropped(sluice_project):
    project = sluice_project({"stream_project.yml": PROJECT + "goverance:\n  models: {}\n"})

    result = project.run("validate")

    assert result.exit_code == 1
    assert result.output == (
        "error: stream_project.yml:6:1: unknown key 'goverance' in stream_project.yml\n"
        "  hint: did you mean 'governance'?\n"
    )


def test_a_misspelt_key_deep_in_a_core_block_names_the_block(sluice_project):
    project = sluice_project(
        {"stream_project.yml": PROJECT + "governance:\n  topics: { naming_patern: '^[a-z]+$' }\n"}
    )

    result = project.run("validate")

    assert result.exit_code == 1
    assert result.output == (
        "error: stream_project.yml:7:13: unknown key 'naming_patern' in stream_project.yml "
        "(governance.topics)\n"
        "  hint: did you mean 'naming_pattern'?\n"
    )


def test_a_file_under_models_with_a_wrong_list_key_suggests_the_right_one(sluice_project):
    project = sluice_project(
        {
            "stream_project.yml": PROJECT + SOURCES,
            "models/a.yml": "model:\n  - name: a\n",
        }
    )

    result = project.run("validate")

    assert result.exit_code == 1
    assert result.output == (
        "error: models/a.yml:1:1: unknown key 'model'\n  hint: did you mean 'models'?\n"
    )


def test_a_runtime_section_is_validated_by_the_model_of_the_plugin_that_owns_it(sluice_project):
    project = sluice_project(
        {
            "stream_project.yml": """
            project:
              name: demo
            runtime:
              stream:
                servers: localhost:9092
                timeout_msec: 50
            """,
        }
    )

    result = project.run("validate")

    assert result.exit_code == 1
    assert result.output == (
        "error: stream_project.yml:6:5: unknown key 'timeout_msec' in runtime.stream\n"
        "  hint: did you mean 'timeout_ms'?\n"
    )


def test_a_bad_value_in_a_runtime_section_says_which_key_and_why(sluice_project):
    project = sluice_project(
        {
            "stream_project.yml": PROJECT.replace(
                "${SERVERS:-localhost:9092}", "localhost:9092\n    timeout_ms: 0"
            ),
        }
    )

    result = project.run("validate")

    assert result.exit_code == 1
    assert result.output == (
        "error: stream_project.yml:6:17: runtime.stream: timeout_ms: "
        "Input should be greater than or equal to 1\n"
    )


def test_a_runtime_section_of_an_uninstalled_first_party_plugin_names_the_distribution(
    sluice_project,
):
    project = sluice_project(
        {"stream_project.yml": PROJECT + "  kafka:\n    bootstrap_servers: localhost:9092\n"}
    )

    result = project.run("validate")

    assert result.exit_code == 1
    assert result.output == (
        "error: stream_project.yml:6:3: runtime.kafka needs the plugin distribution "
        "'sluice-kafka', which is not installed\n"
        "  hint: pip install sluice-kafka\n"
    )


def test_a_runtime_section_nobody_owns_is_an_unknown_key_with_a_suggestion(sluice_project):
    project = sluice_project({"stream_project.yml": PROJECT + "  streem: {}\n"})

    result = project.run("validate")

    assert result.exit_code == 1
    assert result.output == (
        "error: stream_project.yml:6:3: unknown key 'streem' in runtime\n"
        "  hint: did you mean 'stream'?\n"
    )


def test_duplicate_keys_in_yaml_are_an_error(sluice_project):
    project = sluice_project({"stream_project.yml": PROJECT + "project:\n  name: again\n"})

    result = project.run("validate")

    assert result.exit_code == 1
    assert result.output == (
        "error: stream_project.yml:6:1: duplicate key 'project'\n"
        "  hint: a key may appear once per mapping; remove or merge the repeated one\n"
    )


def test_a_yaml_alias_inside_its_own_anchor_is_an_error(sluice_project):
    project = sluice_project(
        {"stream_project.yml": PROJECT, "models/a.yml": "models: &all\n  - name: a\n    x: *all\n"}
    )

    result = project.run("validate")

    assert result.exit_code == 1
    assert result.output == (
        "error: models/a.yml:1:9: a YAML alias refers to the mapping or list that contains it\n"
        "  hint: an alias (*name) may repeat a value defined earlier, not one around it\n"
    )


def test_a_topic_config_value_must_be_a_scalar(sluice_project):
    model = (
        "models:\n  - name: m\n    topic:\n      config: {retention.ms: 1000, cleanup.policy: "
        "[compact]}\n"
    )
    project = sluice_project({"stream_project.yml": PROJECT, "models/m.yml": model})

    result = project.run("validate")

    assert result.exit_code == 1
    assert result.output == (
        "error: models/m.yml:4:52: model 'm': topic.config.cleanup.policy: "
        "Input should be a valid string\n"
    )


def test_broken_yaml_points_at_the_problem(sluice_project):
    project = sluice_project({"stream_project.yml": "project:\n  name: demo\n   version: 1\n"})

    result = project.run("validate")

    assert result.exit_code == 1
    assert result.output.startswith("error: stream_project.yml:3:")
    assert "invalid YAML" in result.output
    assert "hint: check the indentation" in result.output


def test_two_models_with_one_name_are_reported_with_both_places(sluice_project):
    project = sluice_project(
        {
            "stream_project.yml": PROJECT + SOURCES,
            "models/a.yml": f"models:\n  - name: a\n    sql: {MODEL_SQL}",
            "models/more/a.yml": f"models:\n  - name: a\n    sql: {MODEL_SQL}",
        }
    )

    result = project.run("validate")

    assert result.exit_code == 1
    assert result.output == (
        "error: models/more/a.yml:2:11: model 'a' is defined twice (also at models/a.yml:2:5)\n"
        "  hint: names must be unique; rename or remove one of them\n"
    )


def test_several_mistakes_are_reported_together(sluice_project):
    project = sluice_project(
        {
            "stream_project.yml": PROJECT + SOURCES,
            "models/a.yml": """
            models:
              - name: a
                ownr: me
                sql: SELECT 1 AS x
              - name: b
                materialized: topic
                sql: SELECT 1 AS x
                topic: { partitons: 3 }
            """,
        }
    )

    result = project.run("validate")

    assert result.exit_code == 1
    assert result.output == (
        "error: models/a.yml:3:5: unknown key 'ownr' in model 'a'\n"
        "  hint: did you mean 'owner'?\n"
        "models/a.yml:8:14: unknown key 'partitons' in model 'b' (topic)\n"
        "  hint: did you mean 'partitions'?\n"
        "2 errors found\n"
    )


# -- discovery -----------------------------------------------------------------------------------


def test_nodes_are_read_recursively_from_sources_models_tests_and_exposures(sluice_project):
    project = sluice_project(
        {
            "stream_project.yml": PROJECT,
            "sources/payments/raw.yml": SOURCES,
            "models/clean/payments_clean.sql": MODEL_SQL,
            "models/clean/payments_clean.yml": """
            models:
              - name: payments_clean
                description: Valid payments only
            """,
            "models/marts/deep/totals.yml": """
            models:
              - name: totals
                sql: |
                  SELECT payment_id, SUM(amount) AS total
                  FROM {{ ref("payments_clean") }}
                  GROUP BY payment_id
            """,
            "tests/quality/clean.yml": """
            tests:
              - name: clean_not_null
                model: payments_clean
                assertions:
                  - not_null: { columns: [payment_id] }
            """,
            "exposures/apps/dash.yml": """
            exposures:
              - name: dashboard
                type: dashboard
                depends_on: [ref("totals")]
            """,
        }
    )

    result = project.run("ls")

    assert result.exit_code == 0, result.output
    assert result.stdout == (
        "source.payments_raw\n"
        "model.payments_clean (topic)\n"
        "model.totals (flink)\n"
        "exposure.dashboard\n"
        "test.clean_not_null\n"
    )
    loaded = load(project.path)
    assert loaded.models["payments_clean"].description == "Valid payments only"
    assert loaded.models["payments_clean"].sql == MODEL_SQL
    assert loaded.origin("model.payments_clean").file == "models/clean/payments_clean.sql"


def test_a_project_may_be_a_single_file(sluice_project):
    project = sluice_project(
        {
            "stream_project.yml": PROJECT
            + SOURCES
            + f"""
models:
  - name: payments_clean
    sql: {MODEL_SQL}
tests:
  - name: clean_not_null
    model: payments_clean
    assertions:
      - not_null: {{ columns: [payment_id] }}
exposures:
  - name: dashboard
    type: dashboard
    depends_on: [payments_clean]
""",
        }
    )

    result = project.run("validate")

    assert result.exit_code == 0, result.output
    assert result.output == "ok: 1 source, 1 model, 1 test, 1 exposure are valid\n"


def test_a_sql_file_and_sql_in_yaml_for_one_model_is_an_error(sluice_project):
    project = sluice_project(
        {
            "stream_project.yml": PROJECT + SOURCES,
            "models/a.sql": MODEL_SQL,
            "models/a.yml": f"models:\n  - name: a\n    sql: {MODEL_SQL}",
        }
    )

    result = project.run("validate")

    assert result.exit_code == 1
    assert result.output == (
        "error: models/a.yml:3:10: model 'a' has SQL both in models/a.sql and in its YAML\n"
        "  hint: keep one: remove 'sql:' from the YAML or delete models/a.sql\n"
    )


def test_an_unknown_assertion_suggests_the_known_one(sluice_project):
    project = sluice_project(
        {
            "stream_project.yml": PROJECT + SOURCES,
            "models/a.sql": MODEL_SQL,
            "tests/a.yml": """
            tests:
              - name: a_quality
                model: a
                assertions:
                  - not_nul: { columns: [payment_id] }
            """,
        }
    )

    result = project.run("validate")

    assert result.exit_code == 1
    assert result.output == (
        "error: tests/a.yml:5:9: test 'a_quality': unknown assertion 'not_nul'\n"
        "  hint: did you mean 'not_null'?\n"
    )


# -- variables -----------------------------------------------------------------------------------


def test_every_missing_variable_is_listed_in_one_error(sluice_project):
    project = sluice_project(
        {
            "stream_project.yml": """
            project:
              name: demo
            runtime:
              stream:
                servers: ${KAFKA_HOST}:${KAFKA_PORT}
                password: ${STREAM_PASSWORD}
            """,
        }
    )

    result = project.run("validate")

    assert result.exit_code == 1
    assert result.output == (
        "error: stream_project.yml:5:14: environment variables not set: "
        "KAFKA_HOST (stream_project.yml:5:14), KAFKA_PORT (stream_project.yml:5:14), "
        "STREAM_PASSWORD (stream_project.yml:6:15)\n"
        "  hint: set them in the environment or in .env / .env.<env>, "
        "or give a default with ${NAME:-default}\n"
    )


def test_a_default_is_used_when_the_variable_is_unset_or_empty(sluice_project):
    project = sluice_project({"stream_project.yml": PROJECT})

    assert load(project.path).runtime["stream"].servers == "localhost:9092"
    assert load(project.path, environ={"SERVERS": ""}).runtime["stream"].servers == (
        "localhost:9092"
    )
    assert load(project.path, environ={"SERVERS": "b:9092"}).runtime["stream"].servers == ("b:9092")


def test_dotenv_then_dotenv_of_the_environment_then_the_real_environment(sluice_project):
    project = sluice_project(
        {
            "stream_project.yml": PROJECT.replace("${SERVERS:-localhost:9092}", "${SERVERS}"),
            ".env": "SERVERS=from-dotenv:9092\n",
            ".env.prod": "export SERVERS='from-dotenv-prod:9092'\n",
        }
    )

    assert load(project.path).runtime["stream"].servers == "from-dotenv:9092"
    assert load(project.path, env="prod").runtime["stream"].servers == "from-dotenv-prod:9092"
    real = {"SERVERS": "from-environment:9092"}
    assert load(project.path, env="prod", environ=real).runtime["stream"].servers == (
        "from-environment:9092"
    )


def test_a_broken_dotenv_line_is_reported_with_its_line(sluice_project):
    project = sluice_project({"stream_project.yml": PROJECT, ".env": "# settings\nSERVERS\n"})

    result = project.run("validate")

    assert result.exit_code == 1
    assert result.output == (
        "error: .env:2:1: expected NAME=value\n"
        "  hint: each line of a .env file is NAME=value (comments start with #)\n"
    )


def test_a_malformed_reference_is_an_error(sluice_project):
    project = sluice_project(
        {"stream_project.yml": PROJECT.replace("${SERVERS:-localhost:9092}", "${9SERVERS}")}
    )

    result = project.run("validate")

    assert result.exit_code == 1
    assert result.output == (
        "error: stream_project.yml:5:14: '${9SERVERS}' is not a valid variable reference\n"
        "  hint: write ${NAME} or ${NAME:-default}; write $$ for a literal $\n"
    )


# -- environments --------------------------------------------------------------------------------

ENVIRONMENTS = {
    "stream_project.yml": PROJECT + "vars:\n  min_amount: 0\n",
    "environments/prod.yml": """
        protected: true
        allow_destructive: false
        runtime:
          stream:
            servers: prod-kafka:9092
        vars:
          min_amount: 10
        """,
    "environments/dev.yml": "runtime:\n  stream:\n    timeout_ms: 5\n",
}


def test_an_environment_file_overrides_runtime_and_vars_and_sets_safety(sluice_project):
    project = sluice_project(ENVIRONMENTS)

    default = load(project.path)
    prod = load(project.path, env="prod")
    dev = load(project.path, env="dev")

    assert (default.protected, default.environment.destructive_allowed) == (False, True)
    assert (prod.protected, prod.environment.destructive_allowed) == (True, False)
    assert prod.runtime["stream"].servers == "prod-kafka:9092"
    assert prod.vars == {"min_amount": 10}
    # an environment's runtime is merged into the project's, key by key
    assert (dev.runtime["stream"].servers, dev.runtime["stream"].timeout_ms) == (
        "localhost:9092",
        5,
    )


def test_the_environment_comes_from_the_env_option_or_sluice_env(sluice_project):
    project = sluice_project(ENVIRONMENTS)

    assert load(project.path, environ={"SLUICE_ENV": "prod"}).env == "prod"
    by_option = project.run("compile", "--env", "prod")
    assert by_option.exit_code == 0, by_option.output
    assert project.manifest()["metadata"]["environment"] == "prod"
    by_variable = project.run("compile", env={"SLUICE_ENV": "dev"})
    assert by_variable.exit_code == 0, by_variable.output
    assert project.manifest()["metadata"]["environment"] == "dev"


def test_an_unknown_environment_suggests_the_known_ones(sluice_project):
    project = sluice_project(ENVIRONMENTS)

    result = project.run("validate", "--env", "prd")

    assert result.exit_code == 1
    assert result.output == (
        "error: environment 'prd' has no file environments/prd.yml\n  hint: did you mean 'prod'?\n"
    )


@pytest.mark.parametrize(
    ("group", "message"),
    [
        (
            '""',
            "an empty consumer group id matches no group; write the id the consumer reads "
            "with, or leave consumer_group out",
        ),
        (
            '" dashboards"',
            "' dashboards' has spaces around it or control characters; write the consumer "
            "group id exactly as the consumer uses it",
        ),
    ],
)
def test_an_exposure_consumer_group_must_be_an_id_kafka_can_match(sluice_project, group, message):
    project = sluice_project(
        {
            "stream_project.yml": PROJECT,
            "sources/raw.yml": SOURCES,
            "exposures/dash.yml": f"""
            exposures:
              - name: dash
                type: dashboard
                consumer_group: {group}
                depends_on: [source("payments_raw")]
            """,
        }
    )

    result = project.run("validate")

    assert result.exit_code == 1
    assert result.output == (
        f"error: exposures/dash.yml:4:21: exposure 'dash': consumer_group: {message}\n"
    )


def test_an_unknown_key_in_an_environment_file_is_an_error(sluice_project):
    project = sluice_project({**ENVIRONMENTS, "environments/prod.yml": "protectd: true\n"})

    result = project.run("validate", "--env", "prod")

    assert result.exit_code == 1
    assert result.output == (
        "error: environments/prod.yml:1:1: unknown key 'protectd' in environment 'prod'\n"
        "  hint: did you mean 'protected'?\n"
    )


def test_an_environment_file_that_is_a_list_is_an_error(sluice_project):
    project = sluice_project({**ENVIRONMENTS, "environments/prod.yml": "[]\n"})

    result = project.run("validate", "--env", "prod")

    assert result.exit_code == 1
    assert result.output == (
        "error: environments/prod.yml:1:1: environment 'prod' must be a mapping\n"
        "  hint: its keys are protected, allow_destructive, runtime and vars\n"
    )


# -- the example of DESIGN §2 ---------------------------------------------------------------------

DESIGN_EXAMPLE = """
project:
  name: fraud-detection
  version: "1.0.0"

runtime:
  stream:
    servers: ${KAFKA_BOOTSTRAP:-localhost:9092}

defaults:
  topic: { partitions: 6, replication_factor: 3 }

governance:
  topics: { naming_pattern: "^[a-z][a-z0-9_.-]*$", min_partitions: 3, max_partitions: 64 }
  models: { require_description: true, require_owner: true }
  security: { require_classification: false }

sources:
  - name: payments_raw
    topic: payments.raw.v1
    format: json
    event_time: { column: ts, watermark: 5s }
    columns:
      - { name: payment_id, type: STRING }
      - { name: card_number, type: STRING, classification: sensitive }
      - { name: amount, type: "DECIMAL(12,2)" }
      - { name: ts, type: "TIMESTAMP(3)" }

models:
  - name: payments_clean
    description: Valid payments only
    owner: payments-team
    materialized: topic
    sql: |
      SELECT payment_id, amount, ts FROM {{ source("payments_raw") }} WHERE amount > 0
    topic: { partitions: 12, config: { retention.ms: "604800000" } }
    access: { read: ["User:fraud-svc"] }

  - name: fraud_scores
    description: Payments per id and minute
    owner: fraud-team
    materialized: flink
    sql: |
      SELECT payment_id, COUNT(*) AS n, window_start, window_end
      FROM TABLE(TUMBLE(TABLE {{ ref("payments_clean") }}, DESCRIPTOR(ts), INTERVAL '1' MINUTE))
      GROUP BY payment_id, window_start, window_end

tests:
  - name: payments_quality
    model: payments_clean
    type: sample
    assertions:
      - not_null: { columns: [payment_id, amount] }
      - range: { column: amount, min: 0, max: 1000000 }
    on_failure: error

exposures:
  - name: fraud_dashboard
    type: dashboard
    owner: risk-team
    consumer_group: fraud-dashboard
    depends_on: [ref("fraud_scores")]
"""


def test_the_design_example_compiles_with_a_plugin_standing_in_for_kafka_and_flink(
    sluice_project,
):
    project = sluice_project({"stream_project.yml": DESIGN_EXAMPLE})

    result = project.run("compile")

    assert result.exit_code == 0, result.output
    assert result.output == (
        "compiled 1 source, 2 models, 1 test, 1 exposure into target/manifest.json\n"
    )
    nodes = project.manifest()["nodes"]
    assert nodes["model.payments_clean"]["materialized"] == "topic"
    assert nodes["model.fraud_scores"]["materialized"] == "flink"
    assert nodes["model.fraud_scores"]["depends_on"] == ["model.payments_clean"]
    assert nodes["exposure.fraud_dashboard"]["depends_on"] == ["model.fraud_scores"]
    assert nodes["test.payments_quality"]["depends_on"] == ["model.payments_clean"]
    assert [a["name"] for a in nodes["model.payments_clean"]["artifacts"]] == ["payments_clean"]


def test_the_design_example_without_the_real_plugins_names_each_distribution(sluice_project):
    runtime = """
runtime:
  kafka:
    bootstrap_servers: ${KAFKA_BOOTSTRAP}
  schema_registry:
    url: ${SR_URL}
  flink:
    rest_url: ${FLINK_REST_URL}
  connect:
    rest_url: ${CONNECT_REST_URL}
"""
    text = DESIGN_EXAMPLE.replace(
        "runtime:\n  stream:\n    servers: ${KAFKA_BOOTSTRAP:-localhost:9092}\n", runtime
    ).replace(
        "      GROUP BY payment_id, window_start, window_end\n",
        "      GROUP BY payment_id, window_start, window_end\n"
        "    flink: { parallelism: 2, upgrade: savepoint }\n"
        "\n"
        "  - name: payments_to_postgres\n"
        "    materialized: sink\n"
        "    from: payments_clean\n"
        "    connector:\n"
        "      class: io.debezium.connector.jdbc.JdbcSinkConnector\n",
    )
    project = sluice_project({"stream_project.yml": text})

    result = project.run("validate")

    assert result.exit_code == 1
    assert result.output == (
        "error: stream_project.yml:13:3: runtime.connect needs the plugin distribution "
        "'sluice-connect', which is not installed\n"
        "  hint: pip install sluice-connect\n"
        "stream_project.yml:11:3: runtime.flink needs the plugin distribution 'sluice-flink', "
        "which is not installed\n"
        "  hint: pip install sluice-flink\n"
        "stream_project.yml:7:3: runtime.kafka needs the plugin distribution 'sluice-kafka', "
        "which is not installed\n"
        "  hint: pip install sluice-kafka\n"
        "stream_project.yml:9:3: runtime.schema_registry needs the plugin distribution "
        "'sluice-kafka', which is not installed\n"
        "  hint: pip install sluice-kafka\n"
        "stream_project.yml:53:5: 'flink:' needs the plugin distribution 'sluice-flink', "
        "which is not installed\n"
        "  hint: pip install sluice-flink\n"
        "stream_project.yml:58:5: 'connector:' needs the plugin distribution 'sluice-connect', "
        "which is not installed\n"
        "  hint: pip install sluice-connect\n"
        "6 errors found\n"
    )


def test_load_project_raises_errors_that_carry_their_locations(sluice_project):
    project = sluice_project(
        {
            "stream_project.yml": PROJECT + SOURCES,
            "models/a.yml": "models:\n  - name: a\n    ownr: me\n    sql: SELECT 1 AS x\n"
            "  - name: b\n    ownr: me\n    sql: SELECT 1 AS x\n",
        }
    )

    with pytest.raises(ProjectErrors) as caught:
        load(project.path)

    assert [(str(e.location), e.message, e.hint) for e in caught.value.errors] == [
        ("models/a.yml:3:5", "unknown key 'ownr' in model 'a'", "did you mean 'owner'?"),
        ("models/a.yml:6:5", "unknown key 'ownr' in model 'b'", "did you mean 'owner'?"),
    ]
    assert isinstance(caught.value, ProjectError)


def test_a_misspelt_required_key_is_one_error_not_also_a_missing_key(sluice_project):
    project = sluice_project({"stream_project.yml": PROJECT.replace("servers:", "servrs:")})

    result = project.run("validate")

    assert result.exit_code == 1
    assert result.output == (
        "error: stream_project.yml:5:5: unknown key 'servrs' in runtime.stream\n"
        "  hint: did you mean 'servers'?\n"
    )
