"""Compile errors, told as stories: Jinja references, SQL mistakes, cycles, and materializations
that the configured plugins cannot provide. Each names the file, line and column, what is wrong
and how to fix it.
"""

from __future__ import annotations

from collections.abc import Sequence

import pytest
import stream_plugin

from sluice.capabilities import configured
from sluice.compiler import compile_project
from sluice.errors import CapabilityError
from sluice.plugin import hookimpl
from sluice.plugin.api import Materialization
from sluice.plugin.manager import PluginManager
from sluice.project import load_project

pytestmark = pytest.mark.usefixtures("stream_installed")

PROJECT = """
project:
  name: demo
vars:
  min_amount: 10
runtime:
  stream:
    servers: localhost:9092
sources:
  - name: payments_raw
    topic: payments.raw.v1
    columns:
      - { name: payment_id, type: STRING }
      - { name: card_number, type: STRING }
      - { name: amount, type: "DECIMAL(12,2)" }
      - { name: ts, type: "TIMESTAMP(3)" }
"""


def validate(sluice_project, files: dict[str, str]) -> tuple[int, str]:
    result = sluice_project({"stream_project.yml": PROJECT, **files}).run("validate")
    return result.exit_code, result.output


# -- Jinja: source(), ref(), var(), env_var(), macros ---------------------------------------------


def test_a_ref_to_a_misspelt_source_points_at_the_call_and_suggests_source(sluice_project):
    code, output = validate(
        sluice_project,
        {
            "models/a.yml": """
            models:
              - name: a
                sql: |
                  SELECT payment_id
                  FROM {{ ref('paymnts_raw') }}
            """,
        },
    )

    assert code == 1
    assert output == (
        "error: models/a.yml:5:12: ref('paymnts_raw'): no model named 'paymnts_raw'\n"
        '  hint: did you mean {{ source("payments_raw") }}?\n'
    )


def test_a_misspelt_source_in_an_inline_sql_value_points_at_the_call(sluice_project):
    code, output = validate(
        sluice_project,
        {
            "models/a.yml": """
            models:
              - name: a
                sql: SELECT payment_id FROM {{ source('paymnts_raw') }}
            """,
        },
    )

    assert code == 1
    assert output == (
        "error: models/a.yml:3:33: source('paymnts_raw'): no source named 'paymnts_raw'\n"
        "  hint: did you mean 'payments_raw'?\n"
    )


def test_ref_of_a_source_says_to_use_source(sluice_project):
    code, output = validate(
        sluice_project,
        {
            "models/a.sql": "SELECT payment_id FROM {{ ref('payments_raw') }}\n",
        },
    )

    assert code == 1
    assert output == (
        "error: models/a.sql:1:24: ref('payments_raw') names a source\n"
        '  hint: write {{ source("payments_raw") }}\n'
    )


def test_an_undefined_var_in_a_sql_file_is_reported_at_its_call(sluice_project):
    code, output = validate(
        sluice_project,
        {
            "models/a.sql": "SELECT payment_id FROM {{ source('payments_raw') }} "
            "WHERE amount > {{ var('min') }}\n",
        },
    )

    assert code == 1
    assert output == (
        "error: models/a.sql:1:68: var('min') is not defined\n"
        "  hint: add it under vars: in stream_project.yml, or give a default: var('min', ...)\n"
    )


def test_an_unset_env_var_without_default_is_an_error(sluice_project):
    code, output = validate(
        sluice_project,
        {
            "models/a.sql": "SELECT payment_id FROM {{ source('payments_raw') }}\n"
            "WHERE amount > {{ env_var('SLUICE_TEST_MIN') }}\n",
        },
    )

    assert code == 1
    assert output == (
        "error: models/a.sql:2:16: env_var('SLUICE_TEST_MIN') is not set\n"
        "  hint: set it in the environment or .env, or give a default: "
        "env_var('SLUICE_TEST_MIN', 'value')\n"
    )


def test_a_jinja_syntax_error_names_its_line(sluice_project):
    code, output = validate(
        sluice_project,
        {
            "models/a.sql": "SELECT payment_id\nFROM {{ source('payments_raw') }}\n{% if %}\n",
        },
    )

    assert code == 1
    assert output == (
        "error: models/a.sql:3:1: template syntax error: "
        "Expected an expression, got 'end of statement block'\n"
        '  hint: write references as {{ ref("model") }} or {{ source("name") }}\n'
    )


@pytest.mark.parametrize(
    ("sql", "error"),
    [
        ("SELECT {{ ref() }}", "1:8: ref() takes one model name"),
        ("SELECT {{ source('payments_raw', 'x') }}", "1:8: source() takes one source name"),
        ("SELECT {{ env_var() }}", "1:8: env_var() takes a name and an optional default"),
        ("SELECT {{ var('a', 1, 2) }}", "1:8: var() takes a name and an optional default"),
        ("SELECT\n{{ 1 / 0 }}", "2: template error: ZeroDivisionError: division by zero"),
    ],
)
def test_a_template_call_that_cannot_work_is_a_user_error(sluice_project, sql, error):
    code, output = validate(sluice_project, {"models/a.sql": sql + "\n"})

    assert code == 1
    assert output.startswith(f"error: models/a.sql:{error}\n")
    assert "internal error" not in output


def test_a_macro_that_calls_itself_for_ever_is_a_user_error(sluice_project):
    code, output = validate(
        sluice_project,
        {
            "macros/loop.sql": "{% macro loop() %}{{ loop() }}{% endmacro %}\n",
            "models/a.sql": "SELECT {{ loop() }} AS x\n",
        },
    )

    assert code == 1
    assert output == (
        "error: models/a.sql:1:1: template error: calls nested too deep\n"
        "  hint: a macro that calls itself needs a condition that ends the calls\n"
    )


def test_var_env_var_and_macros_render_and_the_graph_comes_from_the_calls(sluice_project):
    project = sluice_project(
        {
            "stream_project.yml": PROJECT,
            "macros/payments.sql": """
            {% macro payments() %}{{ source("payments_raw") }}{% endmacro %}
            {% macro positive(column) %}{{ column }} > {{ var("min_amount") }}{% endmacro %}
            """,
            # the text "ref('b')" in a SQL comment is not a reference: only Jinja calls are
            "models/a.sql": """
            -- copied from ref('b') once
            SELECT payment_id, amount, '{{ env_var("REGION", "eu") }}' AS region
            FROM {{ payments() }}
            WHERE {{ positive("amount") }}
            """,
            "models/b.sql": "SELECT payment_id FROM {{ ref('a') }}\n",
        }
    )

    result = project.run("compile", env={"REGION": "us"})

    assert result.exit_code == 0, result.output
    nodes = project.manifest()["nodes"]
    assert nodes["model.a"]["depends_on"] == ["source.payments_raw"]
    assert nodes["model.b"]["depends_on"] == ["model.a"]
    assert nodes["model.a"]["sql"] == (
        "-- copied from ref('b') once\n"
        "SELECT payment_id, amount, 'us' AS region\n"
        "FROM `payments_raw`\n"
        "WHERE amount > 10\n"
    )
    assert [c["name"] for c in nodes["model.a"]["columns"]] == ["payment_id", "amount", "region"]


# -- SQL analysis ---------------------------------------------------------------------------------


def test_a_sql_error_in_a_yaml_block_scalar_points_into_the_yaml_file(sluice_project):
    code, output = validate(
        sluice_project,
        {
            "models/a.yml": """
            models:
              - name: a
                sql: |
                  SELECT payment_id
                    FROM {{ source("payments_raw") }} WHERE nope > 1
            """,
        },
    )

    assert code == 1
    assert output == "error: models/a.yml:5:49: unknown column 'nope' in `payments_raw`\n"


def test_a_sql_error_in_an_inline_sql_value_points_at_the_column(sluice_project):
    code, output = validate(
        sluice_project,
        {
            "models/a.yml": """
            models:
              - name: a
                sql: SELECT payment_id FROM {{ source("payments_raw") }} WHERE nope > 1
            """,
        },
    )

    assert code == 1
    assert output == "error: models/a.yml:3:68: unknown column 'nope' in `payments_raw`\n"


def test_a_misspelt_type_in_a_cast_points_at_it_and_suggests_the_flink_type(sluice_project):
    code, output = validate(
        sluice_project,
        {
            "models/a.yml": """
            models:
              - name: a
                sql: SELECT CAST(payment_id AS STRIN) AS id FROM {{ source("payments_raw") }}
            """,
        },
    )

    assert code == 1
    assert output == (
        "error: models/a.yml:3:36: unknown type 'STRIN': Flink SQL has no such type\n"
        "  hint: did you mean 'STRING'?\n"
    )


def test_an_unquoted_reserved_word_points_at_it_and_says_how_to_quote_it(sluice_project):
    # Flink's parser refuses `AS value`: without this check the job would fail at apply
    code, output = validate(
        sluice_project,
        {
            "models/b.sql": (
                "SELECT payment_id,\n  amount AS value\nFROM {{ source('payments_raw') }}\n"
            ),
        },
    )

    assert code == 1
    assert output == (
        "error: models/b.sql:2:13: 'value' is a reserved word in Flink SQL and cannot be a "
        "name unquoted\n"
        "  hint: quote it with backticks: `value` (or choose another name)\n"
    )


def test_a_sql_error_in_a_sql_file_names_the_sql_file(sluice_project):
    code, output = validate(
        sluice_project,
        {
            "models/b.sql": (
                "SELECT payment_id\nFROM {{ source('payments_raw') }}\nWHERE nope > 1\n"
            ),
        },
    )

    assert code == 1
    assert output == "error: models/b.sql:3:7: unknown column 'nope' in `payments_raw`\n"


def test_a_sql_syntax_error_names_the_position_and_says_what_is_wrong(sluice_project):
    code, output = validate(
        sluice_project,
        {
            "models/b.sql": "SELECT payment_id\nFROM {{ source('payments_raw') }}\n"
            "WHERE card_number = 'abc\n",
        },
    )

    assert code == 1
    assert output == (
        "error: models/b.sql:3:21: SQL syntax error: syntax error: ' is opened but never closed\n"
        "  hint: check the statement near this position (Flink SQL)\n"
    )


def test_a_declared_column_the_query_does_not_produce_is_an_error(sluice_project):
    code, output = validate(
        sluice_project,
        {
            "models/a.yml": """
            models:
              - name: a
                sql: SELECT payment_id, amount FROM {{ source("payments_raw") }}
                columns:
                  - name: ammount
            """,
        },
    )

    assert code == 1
    assert output == (
        "error: models/a.yml:5:9: model 'a': column 'ammount' is declared but the query does "
        "not produce it\n"
        "  hint: did you mean 'amount'?\n"
    )


def test_a_declared_type_flink_cannot_take_from_the_query_is_an_error(sluice_project):
    # Flink refuses the job's INSERT ("Column types of query result and sink ... do not
    # match"); a type it widens (DECIMAL into DOUBLE) is fine
    code, output = validate(
        sluice_project,
        {
            "models/a.yml": """
            models:
              - name: a
                sql: SELECT payment_id, amount FROM {{ source("payments_raw") }}
                columns:
                  - { name: amount, type: DOUBLE }
                  - { name: payment_id, type: BIGINT }
            """,
        },
    )

    assert code == 1
    assert output == (
        "error: models/a.yml:6:35: model 'a': column 'payment_id' is declared BIGINT, but the "
        "query gives it type STRING\n"
        "  hint: CAST it in the query (CAST(... AS BIGINT)), or declare it STRING\n"
    )


def test_a_model_with_neither_sql_nor_from_is_an_error(sluice_project):
    code, output = validate(sluice_project, {"models/a.yml": "models:\n  - name: a\n"})

    assert code == 1
    assert output == (
        "error: models/a.yml:2:11: model 'a' has neither sql: nor from:\n"
        "  hint: write the query under sql: (or in models/<name>.sql), or name a sink's input "
        "with from:\n"
    )


# -- cycles ---------------------------------------------------------------------------------------


def test_a_cycle_is_named_with_the_refs_that_make_it(sluice_project):
    code, output = validate(
        sluice_project,
        {
            "models/loop.yml": """
            models:
              - name: a
                sql: SELECT payment_id FROM {{ ref('c') }}
              - name: b
                sql: SELECT payment_id FROM {{ ref('a') }}
              - name: c
                sql: SELECT payment_id FROM {{ ref('b') }}
            """,
        },
    )

    assert code == 1
    assert output == (
        "error: models/loop.yml:2:11: models form a cycle: a -> b -> c -> a\n"
        "  hint: remove one of these ref() calls: ref('a') in b, ref('b') in c, ref('c') in a\n"
    )


def test_a_model_that_refs_itself_is_a_cycle(sluice_project):
    code, output = validate(
        sluice_project,
        {
            "models/a.sql": "SELECT payment_id FROM {{ ref('a') }}\n",
        },
    )

    assert code == 1
    assert output == (
        "error: models/a.sql:1:1: models form a cycle: a -> a\n"
        "  hint: remove one of these ref() calls: ref('a') in a\n"
    )


# -- materializations and capabilities ------------------------------------------------------------


def test_a_misspelt_materialization_suggests_the_installed_one(sluice_project):
    code, output = validate(
        sluice_project,
        {
            "models/a.yml": """
            models:
              - name: a
                materialized: topc
                sql: SELECT payment_id FROM {{ source("payments_raw") }}
            """,
        },
    )

    assert code == 1
    assert output == (
        "error: models/a.yml:3:19: model 'a': unknown materialization 'topc'\n"
        "  hint: did you mean 'topic'?\n"
    )


@pytest.mark.parametrize(
    ("kind", "distribution"),
    [("virtual_topic", "sluice-conduktor"), ("sink", "sluice-connect")],
)
def test_a_first_party_kind_whose_plugin_is_missing_names_the_distribution(
    sluice_project, kind, distribution
):
    body = "from: payments_raw" if kind == "sink" else "sql: SELECT 1 AS x"
    code, output = validate(
        sluice_project,
        {
            "models/a.yml": f"models:\n  - name: a\n    materialized: {kind}\n    {body}\n",
        },
    )

    assert code == 1
    assert output == (
        f"error: models/a.yml:3:19: model 'a': materialized: {kind} needs the plugin "
        f"distribution '{distribution}', which is not installed\n"
        f"  hint: pip install {distribution}\n"
    )


def test_an_inferred_sink_without_a_plugin_says_why_it_was_inferred(sluice_project):
    code, output = validate(
        sluice_project,
        {
            "models/a.yml": "models:\n  - name: a\n    from: payments_raw\n",
        },
    )

    assert code == 1
    assert output == (
        "error: models/a.yml:2:11: model 'a': it has from: and no SQL, so it is materialized as "
        "sink, and no installed plugin provides sink\n"
        "  hint: pip install sluice-connect\n"
    )


def test_a_model_needing_a_capability_nobody_configured_names_the_runtime_key(sluice_project):
    project = sluice_project(
        {
            "stream_project.yml": PROJECT.replace("  stream:\n", "  topics_only:\n"),
            "models/a.yml": """
            models:
              - name: totals
                materialized: flink
                sql: |
                  SELECT payment_id, SUM(amount) AS total
                  FROM {{ source("payments_raw") }} GROUP BY payment_id
            """,
        }
    )

    result = project.run("validate")

    assert result.exit_code == 1
    assert result.output == (
        "error: models/a.yml:3:19: model 'totals': materialized: flink needs the capability "
        "'stream_jobs', which no configured plugin provides\n"
        "  hint: configure runtime.stream (plugin 'stream' provides it)\n"
    )


def test_a_model_with_no_runtime_at_all_is_told_what_to_configure(sluice_project):
    project = sluice_project(
        {
            "stream_project.yml": PROJECT.replace(
                "runtime:\n  stream:\n    servers: localhost:9092\n", ""
            ),
            "models/a.sql": "SELECT payment_id FROM {{ source('payments_raw') }}\n",
        }
    )

    result = project.run("validate")

    assert result.exit_code == 1
    assert result.output == (
        "error: models/a.sql:1:1: model 'a': materialized: topic needs the capability 'topics', "
        "which no configured plugin provides\n"
        "  hint: configure runtime.stream (plugin 'stream' provides it)\n"
    )


class _Views:
    """A plugin whose kind ``view`` needs nothing: the alternative the error should propose."""

    @hookimpl
    def sluice_materializations(self) -> Sequence[Materialization]:
        return [Materialization("view", (), "a view", sql="optional")]


def test_a_capability_error_proposes_a_materialization_that_would_work(sluice_project):
    project = sluice_project(
        {
            "stream_project.yml": PROJECT.replace("  stream:\n", "  topics_only:\n"),
            "models/a.yml": """
            models:
              - name: a
                materialized: topic
                sql: SELECT payment_id FROM {{ source("payments_raw") }}
            """,
        }
    )
    manager = PluginManager(
        load_entry_points=False, extra_plugins=[("stream", stream_plugin), ("views", _Views())]
    )
    sections = manager.config_sections()
    loaded = load_project(project.path, sections=sections, environ={})

    with pytest.raises(CapabilityError) as caught:
        compile_project(loaded, manager, configured(sections, loaded.runtime), sections=sections)

    assert caught.value.render() == (
        "models/a.yml:3:19: model 'a': materialized: topic needs the capability 'stream_jobs', "
        "which no configured plugin provides\n"
        "  hint: configure runtime.stream (plugin 'stream' provides it); "
        "or use materialized: view"
    )


MASKED = """
models:
  - name: cards
    sql: SELECT payment_id, card_number FROM {{ source("payments_raw") }}
    mask:
      card_number: { rule: mask_last, keep: 4 }
"""


def test_masking_without_the_masking_capability_is_an_error(sluice_project):
    code, output = validate(sluice_project, {"models/cards.yml": MASKED})

    assert code == 1
    assert output == (
        "error: models/cards.yml:4:5: model 'cards' declares mask: but no configured plugin "
        "provides the capability 'masking'\n"
        "  hint: pip install sluice-conduktor and configure runtime.conduktor; or set "
        "mask_fallback: materialize to publish a masked copy with a Flink job\n"
    )


def test_masking_with_mask_fallback_materialize_compiles(sluice_project):
    project = sluice_project(
        {
            "stream_project.yml": PROJECT,
            "models/cards.yml": MASKED + "    mask_fallback: materialize\n",
        }
    )

    result = project.run("validate")

    assert result.exit_code == 0, result.output


def test_mask_fallback_on_a_topic_that_applications_write_is_an_error(sluice_project):
    code, output = validate(
        sluice_project,
        {
            "models/cards.yml": """
            models:
              - name: cards
                materialized: topic
                columns: [{ name: card_number, type: STRING }]
                mask: { card_number: { rule: mask_all } }
                mask_fallback: materialize
            """
        },
    )

    assert code == 1
    assert output == (
        "error: models/cards.yml:6:5: model 'cards': mask_fallback: materialize masks the "
        "records its job writes, but the model has no SQL (applications write its topic)\n"
        "  hint: mask in a model that reads it: sql: SELECT * FROM {{ ref('cards') }} with this "
        "mask:\n"
    )


def test_a_reader_of_the_masked_model_who_reads_the_raw_values_upstream_is_an_error(
    sluice_project,
):
    code, output = validate(
        sluice_project,
        {
            "sources/raw_access.yml": """
            sources:
              - name: payments_audit
                topic: payments.audit
                columns: [{ name: card_number, type: STRING }]
                access: { read: ["User:auditor", "User:analyst"] }
            """,
            "models/cards.yml": """
            models:
              - name: cards
                sql: SELECT card_number FROM {{ source("payments_audit") }}
                mask: { card_number: { rule: mask_last, keep: 12 } }
                mask_fallback: materialize
                access: { read: ["User:analyst"] }
            """,
        },
    )

    assert code == 1
    assert output == (
        "error: models/cards.yml:6:21: model 'cards': User:analyst may read column "
        "'card_number' masked here, but also unmasked as 'card_number' of source "
        "'payments_audit', whose access.read lists it\n"
        "  hint: remove User:analyst from the access.read of source 'payments_audit', or from "
        "this model's\n"
    )


def test_mask_first_and_mask_last_need_keep(sluice_project):
    code, output = validate(sluice_project, {"models/cards.yml": MASKED.replace(", keep: 4", "")})

    assert code == 1
    assert "mask_last needs keep: the number of characters to mask, e.g. " in output


def test_masking_a_column_the_model_does_not_produce_is_an_error(sluice_project):
    code, output = validate(
        sluice_project,
        {
            "models/cards.yml": MASKED.replace("card_number: {", "card_numbr: {")
            + "    mask_fallback: materialize\n",
        },
    )

    assert code == 1
    assert output == (
        "error: models/cards.yml:5:7: model 'cards': mask names column 'card_numbr', which the "
        "model does not produce\n"
        "  hint: mask columns of the model's own output\n"
    )
