"""sink models as Redpanda Connect streams, against a stateful fake streams API."""

from __future__ import annotations

import json
from typing import Any

import pytest
import yaml

from .fake_admin import FakeAdmin
from .fake_connect import FakeConnect
from .shop import everything_written, flat, line_of, make, rewrite

TOKEN = "tok-Secret-4711"
ENV = {"INGEST_TOKEN": TOKEN}
SID = "sluice.shop.orders_to_http"
SINK = """  - name: orders_to_http
    from: orders_raw
    redpanda_connect:
      input: { start_offset: earliest }
      output:
        http_client:
          url: http://ingest.example/orders
          verb: PUT
          headers: { Authorization: "Bearer ${INGEST_TOKEN}" }
      pipeline:
        processors:
          - mapping: 'root = this'
          - log: { message: 'posting ${! meta("kafka_key") }' }
"""


def runtime(admin: FakeAdmin, connect: FakeConnect) -> str:
    return (
        f"  redpanda:\n    admin_url: {admin.url}\n    connect_url: {connect.url}\n"
        '    seed_brokers: "broker-1:9092,broker-2:9092"\n'
    )


@pytest.fixture
def shop(sluice_project: Any, only_redpanda: None, admin: FakeAdmin, connect: FakeConnect) -> Any:
    return make(sluice_project, runtime(admin, connect), SINK)


def puts(connect: FakeConnect) -> list[tuple[str, str, int]]:
    return [
        (e.method, e.path, e.status)
        for e in connect.state.exchanges
        if e.method in ("POST", "PUT", "DELETE")
    ]


# -- compile ----------------------------------------------------------------------------------


def test_a_sink_compiles_to_a_stream_reading_its_topic_with_its_own_consumer_group(shop):
    result = shop.run("compile", env=ENV)

    assert result.exit_code == 0, result.output
    text = (shop.path / "target" / "redpanda" / "streams" / "orders_to_http.yaml").read_text()
    config = yaml.safe_load(text)
    assert config["input"]["redpanda"] == {
        "start_offset": "earliest",
        "seed_brokers": ["broker-1:9092", "broker-2:9092"],
        "topics": ["orders.raw"],
        "consumer_group": SID,
    }
    assert config["input"]["label"].startswith("sluice_")
    assert config["output"]["http_client"]["headers"] == {"Authorization": "Bearer ${INGEST_TOKEN}"}
    # Redpanda Connect's own interpolation is not a sluice variable
    assert (
        config["pipeline"]["processors"][1]["log"]["message"] == 'posting ${! meta("kafka_key") }'
    )
    assert TOKEN not in everything_written(shop)


def test_a_literal_secret_in_the_block_is_a_compile_error(shop, admin, connect):
    rewrite(shop, runtime(admin, connect), SINK.replace("Bearer ${INGEST_TOKEN}", "Bearer abc"))

    result = shop.run("compile", env=ENV)

    assert result.exit_code != 0
    line = line_of(shop, "Authorization")
    assert f"stream_project.yml:{line}:" in result.output
    assert (
        "sink 'orders_to_http': redpanda_connect.output.http_client.headers.Authorization "
        "holds a literal secret" in flat(result.output)
    )


def test_settings_sluice_makes_itself_are_refused_in_the_input(shop, admin, connect):
    rewrite(shop, runtime(admin, connect), SINK.replace("start_offset: earliest", "topics: [x]"))

    result = shop.run("compile", env=ENV)

    assert result.exit_code != 0
    assert "redpanda_connect.input may not set 'topics'" in flat(result.output)


def test_without_connect_url_the_sink_names_the_setting(sluice_project, only_redpanda, admin):
    project = make(sluice_project, f"  redpanda: {{ admin_url: {admin.url} }}\n", SINK)

    result = project.run("compile", env=ENV)

    assert result.exit_code != 0
    assert "runtime.redpanda.connect_url is not configured" in flat(result.output)


# -- plan, apply, update, prune ------------------------------------------------------------------


def test_a_sink_is_created_then_a_second_plan_is_empty(shop, connect):
    plan = shop.run("plan", "--detailed-exitcode", env=ENV)
    assert plan.exit_code == 2, plan.output
    assert f"+ create stream {SID} (redpanda)" in plan.stdout

    applied = shop.run("apply", env=ENV)
    assert applied.exit_code == 0, applied.output
    assert puts(connect) == [("POST", f"/streams/{SID}", 200)]
    live = connect.state.streams[SID]
    # the secret is resolved only in what is sent to Redpanda Connect
    assert live["output"]["http_client"]["headers"]["Authorization"] == f"Bearer {TOKEN}"
    assert live["input"]["redpanda"]["consumer_group"] == SID

    # Redpanda Connect fills in defaults (buffer, threads, timeout ...): not a change
    again = shop.run("plan", "--detailed-exitcode", env=ENV)
    assert again.exit_code == 0, again.output
    assert "No changes" in again.stdout
    assert TOKEN not in applied.output + again.output + everything_written(shop)


def test_a_changed_output_is_an_update_with_the_field_that_changed(shop, admin, connect):
    assert shop.run("apply", env=ENV).exit_code == 0
    rewrite(shop, runtime(admin, connect), SINK.replace("ingest.example", "ingest-2.example"))

    plan = shop.run("plan", env=ENV)

    assert f"~ update stream {SID} (redpanda)" in plan.stdout
    assert (
        '    output.http_client.url: "http://ingest.example/orders" -> '
        '"http://ingest-2.example/orders"' in plan.stdout
    )
    assert "input.label" not in plan.stdout  # said by the field already
    assert shop.run("apply", env=ENV).exit_code == 0
    assert puts(connect)[-1] == ("PUT", f"/streams/{SID}", 200)
    assert connect.state.streams[SID]["output"]["http_client"]["url"].startswith("http://ingest-2")
    assert shop.run("plan", "--detailed-exitcode", env=ENV).exit_code == 0


def test_a_removed_key_is_an_update_too(shop, admin, connect):
    assert shop.run("apply", env=ENV).exit_code == 0
    rewrite(shop, runtime(admin, connect), SINK.replace("          verb: PUT\n", ""))

    plan = shop.run("plan", "--detailed-exitcode", env=ENV)

    # the live verb may be Redpanda Connect's default: the label is what tells the change
    assert plan.exit_code == 2, plan.output
    assert "    input.label:" in plan.stdout
    assert shop.run("apply", env=ENV).exit_code == 0
    assert "verb" not in connect.state.streams[SID]["output"]["http_client"]


def test_a_new_secret_value_is_an_update_that_never_shows_the_value(shop, connect):
    assert shop.run("apply", env=ENV).exit_code == 0
    rotated = {"INGEST_TOKEN": "tok-Rotated-0815"}

    plan = shop.run("plan", env=rotated)

    assert (
        '    output.http_client.headers.Authorization: "****" -> "Bearer ${INGEST_TOKEN}"'
        in plan.stdout
    )
    applied = shop.run("apply", env=rotated)
    assert applied.exit_code == 0, applied.output
    assert connect.state.streams[SID]["output"]["http_client"]["headers"]["Authorization"] == (
        "Bearer tok-Rotated-0815"
    )
    shown = plan.output + applied.output + everything_written(shop)
    assert "tok-Rotated-0815" not in shown and TOKEN not in shown


def test_a_sink_that_left_the_project_is_deleted_only_with_prune(shop, admin, connect):
    connect.state.streams["someone-else"] = {"input": {"generate": {}}, "output": {"drop": {}}}
    connect.state.streams["sluice.shop.by_hand"] = {
        "input": {"redpanda": {"seed_brokers": ["b:9092"], "consumer_group": "by-hand"}},
        "output": {"drop": {}},
    }
    for sid in ("someone-else", "sluice.shop.by_hand"):
        connect.state.started[sid] = 0.0
    assert shop.run("apply", env=ENV).exit_code == 0
    transform = (
        "  - name: orders_clean\n    materialized: transform\n    from: orders_raw\n"
        "    transform: { wasm: transforms/clean.wasm }\n"
    )
    rewrite(shop, runtime(admin, connect), transform)

    plan = shop.run("plan", env=ENV)
    assert f"- delete stream {SID} (redpanda)" in plan.stdout
    assert "pass --prune to delete" in plan.stdout
    assert "someone-else" not in plan.stdout and "by_hand" not in plan.stdout
    assert shop.run("apply", env=ENV).exit_code == 0
    assert SID in connect.state.streams

    pruned = shop.run("apply", "--prune", env=ENV)
    assert pruned.exit_code == 0, pruned.output
    assert sorted(connect.state.streams) == ["sluice.shop.by_hand", "someone-else"]
    assert ("DELETE", f"/streams/{SID}", 200) in puts(connect)


def test_a_stream_of_the_same_id_that_the_project_does_not_own_is_a_plan_error(shop, connect):
    connect.state.streams[SID] = {
        "input": {"redpanda": {"seed_brokers": ["b:9092"], "consumer_group": "theirs"}},
        "output": {"drop": {}},
    }
    connect.state.started[SID] = 0.0

    result = shop.run("plan", env=ENV)

    assert result.exit_code != 0
    assert f"Redpanda Connect already runs a stream '{SID}' that this project does not manage" in (
        flat(result.output)
    )


def test_lint_errors_are_reported_per_field_with_the_line_of_the_block(shop, admin, connect):
    broken = SINK.replace("verb: PUT", "verbb: PUT")
    rewrite(shop, runtime(admin, connect), broken)

    result = shop.run("apply", env=ENV)

    assert result.exit_code != 0
    line = line_of(shop, "verbb")
    assert f"Redpanda Connect refused stream {SID}: 1 lint error in its config" in result.output
    assert (
        f"output.http_client.verbb (stream_project.yml:{line}:11): field verbb not recognised"
        in result.output
    )
    assert "Traceback" not in result.output
    assert TOKEN not in result.output


def test_an_unset_variable_is_named_at_plan(shop):
    result = shop.run("plan", env={})

    assert result.exit_code != 0
    assert f"stream {SID} references variable(s) not set in this environment: INGEST_TOKEN" in flat(
        result.output
    )


def test_status_shows_the_running_stream(shop, connect):
    assert shop.run("apply", env=ENV).exit_code == 0

    result = shop.run("status", "--output", "json", env=ENV)

    assert result.exit_code == 0, result.output
    (item,) = [i for i in json.loads(result.stdout) if i["resource"] == SID]
    assert item["state"] == "RUNNING"
    assert item["detail"]["topics"] == ["orders.raw"]
    assert item["detail"]["output"] == "http_client"


def test_the_probe_offers_redpanda_connect_only_when_it_answers(shop, connect):
    connect.ready = False

    result = shop.run("plan", env=ENV)

    assert result.exit_code != 0
    assert "redpanda_connect" in result.output


# -- which plugin runs a sink ------------------------------------------------------------------


KAFKA_CONNECT_SINK = """  - name: orders_to_file
    from: orders_raw
    connector: { class: file, config: { file: /tmp/orders.txt } }
"""
BARE_SINK = "  - name: orders_anywhere\n    from: orders_raw\n"


@pytest.fixture
def with_connect(monkeypatch: pytest.MonkeyPatch) -> None:
    """sluice-connect and sluice-redpanda both installed (both provide materialized: sink)."""
    monkeypatch.delenv("SLUICE_ENV", raising=False)
    monkeypatch.setenv("SLUICE_DISABLE_PLUGINS", "kafka,flink,conduktor,webhook")


def test_the_block_decides_which_plugin_runs_a_sink(sluice_project, with_connect):
    both = (
        "  redpanda: { admin_url: http://rp:9644, connect_url: http://rpc:4195, "
        "seed_brokers: rp:9092 }\n  connect: { rest_url: http://connect:8083 }\n"
    )
    project = make(sluice_project, both, SINK + KAFKA_CONNECT_SINK)

    result = project.run("compile", env=ENV)

    assert result.exit_code == 0, result.output
    nodes = project.manifest()["nodes"]
    assert nodes["model.orders_to_http"]["plugin"] == "redpanda"
    assert nodes["model.orders_to_file"]["plugin"] == "connect"
    assert (project.path / "target" / "connect" / "shop-orders_to_file.json").is_file()
    assert not (project.path / "target" / "connect" / "shop-orders_to_http.json").exists()


def test_a_sink_without_a_block_goes_to_the_runtime_that_is_configured(
    sluice_project, with_connect
):
    only_redpanda = "  redpanda: { admin_url: http://rp:9644, connect_url: http://rpc:4195 }\n"
    project = make(sluice_project, only_redpanda, BARE_SINK)

    result = project.run("compile", env=ENV)

    assert result.exit_code != 0
    assert (
        "sink 'orders_anywhere' runs on Redpanda Connect but has no redpanda_connect: block"
        in flat(result.output)
    )

    rewrite(project, "  connect: { rest_url: http://connect:8083 }\n", BARE_SINK)
    result = project.run("compile", env=ENV)
    assert "sink but has no connector: block" in flat(result.output)


def test_a_sink_no_runtime_can_run_names_both_ways(sluice_project, with_connect):
    project = make(sluice_project, "  {}\n", BARE_SINK)

    result = project.run("compile", env=ENV)

    assert result.exit_code != 0
    text = flat(result.output)
    assert (
        "model 'orders_anywhere': materialized: sink needs the capability 'connectors' or "
        "'redpanda_connect', which no configured plugin provides" in text
    )
    assert "runtime.connect" in text and "runtime.redpanda" in text


def test_blocks_of_both_sink_runtimes_are_an_error(sluice_project, with_connect):
    both_blocks = SINK + "    connector: { class: file, config: { file: /tmp/x } }\n"
    project = make(sluice_project, "  connect: { rest_url: http://connect:8083 }\n", both_blocks)

    result = project.run("compile", env=ENV)

    assert result.exit_code != 0
    assert (
        "model 'orders_to_http' has blocks of several plugins that provide materialized: sink: "
        "connector: (connect), redpanda_connect: (redpanda)" in flat(result.output)
    )


def test_destroy_deletes_the_projects_stream(shop, connect):
    assert shop.run("apply", env=ENV).exit_code == 0

    result = shop.run("destroy", "--yes", env=ENV)

    assert result.exit_code == 0, result.output
    assert connect.state.streams == {}
    assert ("DELETE", f"/streams/{SID}", 200) in puts(connect)
