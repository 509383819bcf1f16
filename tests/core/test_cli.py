"""The command line, told as stories: how errors look, what compile writes, and the listing and
lineage a user asks for."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytestmark = pytest.mark.usefixtures("stream_installed")

SECRET = "hunter2-secret"

SHOP = {
    "stream_project.yml": """
        project:
          name: shop
        runtime:
          stream:
            servers: localhost:9092
            password: ${DB_PASSWORD}
        sources:
          - name: payments_raw
            topic: payments.raw.v1
            columns:
              - { name: payment_id, type: STRING }
              - { name: amount, type: "DECIMAL(12,2)" }
        """,
    "models/clean/payments_clean.yml": """
        models:
          - name: payments_clean
            tags: [pii]
            sql: |
              SELECT payment_id, amount
              FROM {{ source("payments_raw") }} WHERE amount > 0
        """,
    "models/marts/totals.sql": (
        "SELECT payment_id, SUM(amount) AS total\n"
        "FROM {{ ref('payments_clean') }} GROUP BY payment_id\n"
    ),
    "exposures/dash.yml": """
        exposures:
          - name: dash
            type: dashboard
            depends_on: [ref('totals')]
        """,
    "tests/clean.yml": """
        tests:
          - name: clean_ok
            model: payments_clean
            assertions:
              - not_null: { columns: [payment_id] }
        """,
}
ENV = {"DB_PASSWORD": SECRET}


@pytest.fixture
def shop(sluice_project):
    return sluice_project(SHOP)


# -- errors ---------------------------------------------------------------------------------------


def test_a_user_error_is_file_line_column_what_and_fix_with_exit_code_1_and_no_traceback(
    sluice_project,
):
    project = sluice_project(
        {**SHOP, "exposures/dash.yml": "exposures:\n  - name: dash\n    typ: x\n"}
    )

    result = project.run("validate", env=ENV)

    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr == (
        "error: exposures/dash.yml:3:5: unknown key 'typ' in exposure 'dash'\n"
        "  hint: did you mean 'type'?\n"
    )
    assert "Traceback" not in result.output


def test_debug_adds_the_traceback(sluice_project):
    project = sluice_project(
        {**SHOP, "exposures/dash.yml": "exposures:\n  - name: dash\n    typ: x\n"}
    )

    result = project.run("validate", "--debug", env=ENV)

    assert result.exit_code == 1
    assert "Traceback (most recent call last)" in result.stderr
    assert result.stderr.endswith(
        "error: exposures/dash.yml:3:5: unknown key 'typ' in exposure 'dash'\n"
        "  hint: did you mean 'type'?\n"
    )


def test_a_directory_without_a_project_says_how_to_make_one(tmp_path, sluice_project):
    project = sluice_project({})

    result = project.run("validate")

    assert result.exit_code == 1
    assert result.output == (
        f"error: no stream_project.yml in {project.path}\n"
        "  hint: run sluice in a project directory, pass --project-dir, or create one with "
        "`sluice init`\n"
    )


def test_a_path_the_file_system_refuses_is_a_user_error(tmp_path, sluice_project):
    (tmp_path / "a_file").write_text("", encoding="utf-8")
    target = tmp_path / "a_file" / "shop"

    result = sluice_project({}).run("init", str(target))

    assert result.exit_code == 1
    assert result.output == (
        f"error: {target / 'exposures'}: Not a directory\n"
        "  hint: check that the path exists and that sluice may read and write it\n"
    )


def test_a_selection_naming_nothing_is_an_error(shop):
    result = shop.run("ls", "--select", "nosuch", env=ENV)

    assert result.exit_code == 1
    assert result.output == (
        "error: no node named 'nosuch' in the project\n  hint: run `sluice ls` to see node names\n"
    )


# -- validate and compile -------------------------------------------------------------------------


def test_validate_reports_what_it_checked(shop):
    text = shop.run("validate", env=ENV)
    as_json = shop.run("validate", "--output", "json", env=ENV)

    assert (text.exit_code, text.output) == (
        0,
        "ok: 1 source, 2 models, 1 test, 1 exposure are valid\n",
    )
    assert as_json.exit_code == 0
    assert as_json.json() == {
        "valid": True,
        "nodes": {"source": 1, "model": 2, "test": 1, "exposure": 1},
    }


def test_compile_writes_the_manifest_and_each_plugins_artifacts(shop):
    result = shop.run("compile", "-v", env=ENV)

    assert result.exit_code == 0, result.output
    assert result.output == (
        "compiled 1 source, 2 models, 1 test, 1 exposure into target/manifest.json\n"
        "  target/stream/topics.json\n"
    )
    topics = json.loads((shop.path / "target" / "stream" / "topics.json").read_text())
    assert [t["topic"] for t in topics] == ["payments_clean", "totals"]
    manifest = shop.manifest()
    assert manifest["parent_map"]["model.totals"] == ["model.payments_clean"]
    assert manifest["metadata"]["capabilities"] == {"stream_jobs": "stream", "topics": "stream"}

    as_json = shop.run("compile", "--output", "json", env=ENV)
    assert as_json.json() == {
        "manifest": str(shop.path / "target" / "manifest.json"),
        "files": [str(shop.path / "target" / "stream" / "topics.json")],
        "unchanged": True,
    }


def test_a_second_compile_of_an_unchanged_project_reuses_the_first(shop):
    assert shop.run("compile", env=ENV).exit_code == 0
    again = shop.run("compile", env=ENV)
    assert again.output == (
        "compiled 1 source, 2 models, 1 test, 1 exposure into target/manifest.json"
        " (unchanged since the last compile)\n"
    )
    # any change to a file the compile read makes it compile again
    path = shop.path / "stream_project.yml"
    path.write_text(path.read_text() + "\n# a comment\n")
    assert "unchanged" not in shop.run("compile", env=ENV).output
    # so does a deleted artifact
    (shop.path / "target" / "stream" / "topics.json").unlink()
    assert "unchanged" not in shop.run("compile", env=ENV).output
    assert (shop.path / "target" / "stream" / "topics.json").is_file()


def test_compile_is_deterministic(shop, monkeypatch):
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")

    assert shop.run("compile", env=ENV).exit_code == 0
    first = _files(shop.path / "target", cache=False)
    assert shop.run("compile", env=ENV).exit_code == 0
    second = _files(shop.path / "target", cache=False)

    assert first == second
    assert shop.manifest()["metadata"]["generated_at"] == "2023-11-14T22:13:20+00:00"


def test_without_source_date_epoch_the_stamp_is_the_newest_project_file(shop, monkeypatch):
    monkeypatch.delenv("SOURCE_DATE_EPOCH", raising=False)
    for path in shop.path.rglob("*"):
        if path.is_file():
            import os

            os.utime(path, (1600000000, 1600000000))

    assert shop.run("compile", env=ENV).exit_code == 0

    assert shop.manifest()["metadata"]["generated_at"] == "2020-09-13T12:26:40+00:00"


def test_secrets_never_reach_the_files_under_target(sluice_project):
    project = sluice_project(
        {
            **SHOP,
            # a secret read in SQL as well as in the runtime section
            "models/audit.sql": (
                "SELECT payment_id, '{{ env_var(\"AUDIT_TOKEN\") }}' AS token\n"
                "FROM {{ source('payments_raw') }}\n"
            ),
        }
    )

    result = project.run("compile", env={**ENV, "AUDIT_TOKEN": "tok-123456"})

    assert result.exit_code == 0, result.output
    files = _files(project.path / "target")
    assert files  # the manifest, the topics and the compile cache
    for name, data in files.items():
        assert SECRET.encode() not in data, name
        assert b"tok-123456" not in data, name
    topics = json.loads(files["stream/topics.json"])
    assert {t["password"] for t in topics} == {"****"}
    assert "'****' AS token" in project.manifest()["nodes"]["model.audit"]["sql"]


# -- ls and --select ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("select", "listed"),
    [
        ([], "payments_raw payments_clean totals dash clean_ok"),
        # a test of a selected model comes along, as in dbt
        (["--select", "payments_clean"], "payments_clean clean_ok"),
        (["--select", "payments_clean+"], "payments_clean totals dash clean_ok"),
        (["--select", "+totals"], "payments_raw payments_clean totals clean_ok"),
        (["--select", "tag:pii"], "payments_clean clean_ok"),
        (["--select", "path:models/marts"], "totals"),
        (["--select", "config.materialized:flink"], "totals"),
        (["--select", "plugin:stream"], "payments_clean totals clean_ok"),
        (["--select", "payments_clean totals"], "payments_clean totals clean_ok"),
        (["-s", "payments_clean", "-s", "dash"], "payments_clean dash clean_ok"),
        (["--select", "+totals,tag:pii"], "payments_clean clean_ok"),
        (["--select", "payments_clean+", "--exclude", "totals"], "payments_clean dash clean_ok"),
        (["--resource-type", "model"], "payments_clean totals"),
    ],
)
def test_ls_lists_the_selected_nodes_in_graph_order(shop, select, listed):
    result = shop.run("ls", *select, env=ENV)

    assert result.exit_code == 0, result.output
    names = [line.split(" ")[0].split(".", 1)[1] for line in result.stdout.splitlines()]
    assert names == listed.split()


def test_ls_shows_each_nodes_materialization(shop):
    result = shop.run("ls", env=ENV)

    assert result.stdout == (
        "source.payments_raw\n"
        "model.payments_clean (topic)\n"
        "model.totals (flink)\n"
        "exposure.dash\n"
        "test.clean_ok\n"
    )


def test_ls_as_json(shop):
    result = shop.run("ls", "--resource-type", "model", "--output", "json", env=ENV)

    assert result.json() == [
        {
            "unique_id": "model.payments_clean",
            "resource_type": "model",
            "materialized": "topic",
            "path": "models/clean/payments_clean.yml",
            "tags": ["pii"],
        },
        {
            "unique_id": "model.totals",
            "resource_type": "model",
            "materialized": "flink",
            "path": "models/marts/totals.sql",
            "tags": [],
        },
    ]


# -- lineage --------------------------------------------------------------------------------------


def test_lineage_as_a_tree(shop):
    result = shop.run("lineage", env=ENV)

    assert result.exit_code == 0, result.output
    assert result.stdout == (
        "payments_raw (source)\n"
        "└── payments_clean (topic)\n"
        "    ├── totals (flink)\n"
        "    │   └── dash (exposure)\n"
        "    └── clean_ok (test)\n"
    )


def test_lineage_as_mermaid(shop):
    result = shop.run("lineage", "--format", "mermaid", env=ENV)

    assert result.stdout == (
        "flowchart LR\n"
        '    exposure__dash{{"dash (exposure)"}}\n'
        '    model__payments_clean["payments_clean (topic)"]\n'
        '    model__totals["totals (flink)"]\n'
        '    source__payments_raw[("payments_raw (source)")]\n'
        '    test__clean_ok(["clean_ok (test)"])\n'
        "    model__totals --> exposure__dash\n"
        "    source__payments_raw --> model__payments_clean\n"
        "    model__payments_clean --> model__totals\n"
        "    model__payments_clean --> test__clean_ok\n"
    )


def test_lineage_as_dot(shop):
    result = shop.run("lineage", "--format", "dot", "--select", "+totals", env=ENV)

    assert result.stdout == (
        "digraph lineage {\n"
        "  rankdir=LR;\n"
        '  "model.payments_clean" [label="payments_clean (topic)", shape=box];\n'
        '  "model.totals" [label="totals (flink)", shape=box];\n'
        '  "source.payments_raw" [label="payments_raw (source)", shape=cylinder];\n'
        '  "test.clean_ok" [label="clean_ok (test)", shape=note];\n'
        '  "source.payments_raw" -> "model.payments_clean";\n'
        '  "model.payments_clean" -> "model.totals";\n'
        '  "model.payments_clean" -> "test.clean_ok";\n'
        "}\n"
    )


def test_lineage_as_json_with_column_edges(shop):
    by_format = shop.run("lineage", "--format", "json", "--columns", env=ENV).json()
    by_output = shop.run("lineage", "--output", "json", "--columns", env=ENV).json()

    assert by_format == by_output
    edges = {(e["source"], e["target"]): e["columns"] for e in by_format["edges"]}
    assert edges == {
        ("source.payments_raw", "model.payments_clean"): {
            "amount": ["amount"],
            "payment_id": ["payment_id"],
        },
        ("model.payments_clean", "model.totals"): {
            "payment_id": ["payment_id"],
            "total": ["amount"],
        },
        ("model.totals", "exposure.dash"): {},
        ("model.payments_clean", "test.clean_ok"): {},
    }
    assert [n["unique_id"] for n in by_format["nodes"]] == [
        "exposure.dash",
        "model.payments_clean",
        "model.totals",
        "source.payments_raw",
        "test.clean_ok",
    ]


def test_plugins_lists_the_installed_test_plugin_as_configured(shop):
    result = shop.run("plugins", "--no-probe", env=ENV)

    assert result.exit_code == 0, result.output
    assert result.stdout == (
        "plugin   version  configured  reachable  capabilities / kinds\n"
        "lineage  0.1.0    no          -          -\n"
        "stream   0.1.0    yes         -          stream_jobs, topics, materialized: flink, "
        "materialized: topic\n"
    )


def _files(root: Path, cache: bool = True) -> dict[str, bytes]:
    """The files under ``root``; the compile cache (``.cache/``) is an internal detail."""
    return {
        path.relative_to(root).as_posix(): path.read_bytes()
        for path in sorted(root.rglob("*"))
        if path.is_file() and (cache or ".cache" not in path.parts)
    }
