"""Governance rules, told as stories: a project's own ``governance:`` block is checked at
validate/compile, and every violation names the file and line of what breaks the rule."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.usefixtures("stream_installed")

PROJECT = """
project:
  name: demo
runtime:
  stream:
    servers: localhost:9092
defaults:
  topic: { partitions: 6 }
sources:
  - name: payments_raw
    topic: payments.raw.v1
    columns:
      - { name: payment_id, type: STRING, classification: internal }
      - { name: card_number, type: STRING, classification: sensitive }
      - { name: amount, type: "DECIMAL(12,2)", classification: internal }
governance:
"""

CLEAN = """
models:
  - name: payments_clean
    description: Valid payments only
    owner: payments-team
    sql: SELECT payment_id, amount FROM {{ source("payments_raw") }} WHERE amount > 0
"""


def validate(sluice_project, rules: str, models: str) -> tuple[int, str]:
    project = sluice_project({"stream_project.yml": PROJECT + rules, "models/m.yml": models})
    result = project.run("validate")
    return result.exit_code, result.output


def test_a_model_without_description_or_owner_breaks_the_model_rules(sluice_project):
    code, output = validate(
        sluice_project,
        "  models: { require_description: true, require_owner: true }\n",
        """
        models:
          - name: payments_clean
            sql: SELECT payment_id FROM {{ source("payments_raw") }}
        """,
    )

    assert code == 1
    assert output == (
        "error: models/m.yml:2:11: model 'payments_clean' has no description\n"
        "  hint: add description: (governance.models.require_description is on)\n"
        "models/m.yml:2:11: model 'payments_clean' has no owner\n"
        "  hint: add owner: (governance.models.require_owner is on)\n"
        "2 errors found\n"
    )


def test_a_model_without_a_test_breaks_require_tests_until_one_is_written(sluice_project):
    rules = "  models: { require_tests: true }\n"
    code, output = validate(sluice_project, rules, CLEAN)

    assert code == 1
    assert output == (
        "error: models/m.yml:2:11: model 'payments_clean' has no test\n"
        "  hint: add a test with model: payments_clean (governance.models.require_tests is on)\n"
    )

    with_test = CLEAN + (
        "tests:\n  - name: clean_ok\n    model: payments_clean\n"
        "    assertions:\n      - not_null: { columns: [payment_id] }\n"
    )
    code, output = validate(sluice_project, rules, with_test)
    assert (code, output) == (0, "ok: 1 source, 1 model, 1 test, 0 exposures are valid\n")


def test_a_topic_name_breaking_the_naming_pattern_points_at_the_name_that_sets_it(
    sluice_project,
):
    code, output = validate(
        sluice_project,
        "  topics: { naming_pattern: '^[a-z][a-z0-9_.-]*$' }\n",
        CLEAN + "    topic: { name: Payments.Clean }\n",
    )

    assert code == 1
    assert output == (
        "error: models/m.yml:6:20: model 'payments_clean': topic name 'Payments.Clean' does not "
        "match the naming pattern ^[a-z][a-z0-9_.-]*$\n"
        "  hint: rename the topic with topic: {name: ...} or change "
        "governance.topics.naming_pattern\n"
    )


def test_a_topic_named_after_its_model_is_checked_at_the_models_name(sluice_project):
    code, output = validate(
        sluice_project, "  topics: { naming_pattern: '^[a-z]+[.][a-z]+$' }\n", CLEAN
    )

    assert code == 1
    assert output == (
        "error: models/m.yml:2:11: model 'payments_clean': topic name 'payments_clean' does not "
        "match the naming pattern ^[a-z]+[.][a-z]+$\n"
        "  hint: rename the topic with topic: {name: ...} or change "
        "governance.topics.naming_pattern\n"
    )


def test_partitions_below_the_minimum_point_at_the_partitions_key(sluice_project):
    code, output = validate(
        sluice_project,
        "  topics: { min_partitions: 3, max_partitions: 64 }\n",
        CLEAN + "    topic: { partitions: 1 }\n",
    )

    assert code == 1
    assert output == (
        "error: models/m.yml:6:26: model 'payments_clean': 1 partition is below the minimum of 3\n"
        "  hint: set topic: {partitions: 3} or more\n"
    )


def test_partitions_from_the_defaults_are_checked_too(sluice_project):
    code, output = validate(sluice_project, "  topics: { max_partitions: 4 }\n", CLEAN)

    assert code == 1
    assert output == (
        "error: models/m.yml:2:11: model 'payments_clean': 6 partitions is above the maximum "
        "of 4\n"
        "  hint: set topic: {partitions: 4} or fewer\n"
    )


def test_columns_without_classification_are_listed_each_at_its_line(sluice_project):
    code, output = validate(
        sluice_project,
        "  security: { require_classification: true }\n",
        CLEAN
        + "    columns:\n"
        + "      - { name: payment_id, classification: internal }\n"
        + "      - { name: amount }\n",
    )

    assert code == 1
    assert output == (
        "error: models/m.yml:8:9: model 'payments_clean': column 'amount' has no classification\n"
        "  hint: add classification: public | internal | confidential | sensitive | restricted "
        "| pii\n"
    )


def test_a_sensitive_source_column_exposed_by_a_model_must_be_masked(sluice_project):
    code, output = validate(
        sluice_project,
        "  security: { sensitive_columns_require_masking: true }\n",
        """
        models:
          - name: cards
            sql: SELECT payment_id, card_number AS card FROM {{ source("payments_raw") }}
        """,
    )

    assert code == 1
    assert output == (
        "error: models/m.yml:2:11: model 'cards': sensitive column 'card' "
        "(from source.payments_raw.card_number) is exposed without masking\n"
        "  hint: add mask: {card: {rule: mask_all}}, or drop the column from the SELECT\n"
    )


def test_a_masked_sensitive_column_satisfies_the_rule(sluice_project):
    code, output = validate(
        sluice_project,
        "  security: { sensitive_columns_require_masking: true }\n",
        """
        models:
          - name: cards
            sql: SELECT payment_id, card_number FROM {{ source("payments_raw") }}
            mask: { card_number: { rule: mask_last, keep: 4 } }
            mask_fallback: materialize
        """,
    )

    assert (code, output) == (0, "ok: 1 source, 1 model, 0 tests, 0 exposures are valid\n")


def test_a_project_that_keeps_every_rule_is_valid(sluice_project):
    code, output = validate(
        sluice_project,
        "  topics: { naming_pattern: '^[a-z_.]+$', min_partitions: 3, max_partitions: 64 }\n"
        "  models: { require_description: true, require_owner: true }\n"
        "  security: { require_classification: true, sensitive_columns_require_masking: true }\n",
        CLEAN
        + "    columns:\n"
        + "      - { name: payment_id, classification: internal }\n"
        + "      - { name: amount, classification: internal }\n",
    )

    assert (code, output) == (0, "ok: 1 source, 1 model, 0 tests, 0 exposures are valid\n")


def test_a_bad_naming_pattern_is_a_format_error_at_its_key(sluice_project):
    code, output = validate(sluice_project, "  topics: { naming_pattern: '^[a-z' }\n", CLEAN)

    assert code == 1
    assert output == (
        "error: stream_project.yml:16:29: stream_project.yml: governance.topics.naming_pattern: "
        "not a valid regular expression: unterminated character set at position 1\n"
    )
