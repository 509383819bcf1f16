"""sluice-redpanda: probe and WebAssembly transforms against a stateful fake Admin API."""

from __future__ import annotations

import json
from typing import Any

from sluice_redpanda.planner import PROJECT_KEY, SHA_KEY

from .fake_admin import VERSION, FakeAdmin
from .fake_connect import FakeConnect

WASM = b"\x00asm\x01\x00\x00\x00identity"
SOURCES = """sources:
  - name: orders_raw
    topic: orders.raw
"""
MODEL = """  - name: orders_clean
    materialized: transform
    from: orders_raw
    transform:
      wasm: transforms/clean.wasm
      env: { MODE: strict }
"""
OTHER = """  - name: orders_copy
    materialized: transform
    from: orders_raw
    transform: { wasm: transforms/clean.wasm }
"""
OFFLINE = "  redpanda: { admin_url: http://redpanda:9644 }\n"


def project_text(runtime: str, models: str) -> str:
    return f"project: {{ name: shop }}\nruntime:\n{runtime}{SOURCES}models:\n{models}"


def runtime_of(admin: FakeAdmin, extra: str = "") -> str:
    return f"  redpanda:\n    admin_url: {admin.url}\n{extra}"


def make(sluice_project: Any, runtime: str, models: str, wasm: bytes = WASM) -> Any:
    project = sluice_project({"stream_project.yml": project_text(runtime, models)})
    set_wasm(project, wasm)
    return project


def set_wasm(project: Any, wasm: bytes) -> None:
    target = project.path / "transforms" / "clean.wasm"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(wasm)


def flat(text: str) -> str:
    return " ".join(text.split())


# -- compile ----------------------------------------------------------------------------------


def test_compile_writes_the_transform_artifact(sluice_project, only_redpanda):
    import hashlib

    project = make(sluice_project, OFFLINE, MODEL)
    result = project.run("compile")
    assert result.exit_code == 0, result.output
    spec = json.loads((project.path / "target" / "redpanda" / "orders_clean.json").read_text())
    assert spec == {
        "name": "orders_clean",
        "input_topic": "orders.raw",
        "output_topics": ["orders_clean"],
        "environment": {"MODE": "strict"},
        "wasm_sha256": hashlib.sha256(WASM).hexdigest(),
        "wasm_path": "transforms/clean.wasm",
    }


def test_a_missing_wasm_file_is_a_compile_error_with_file_and_line(sluice_project, only_redpanda):
    project = sluice_project({"stream_project.yml": project_text(OFFLINE, MODEL)})
    result = project.run("compile")
    assert result.exit_code != 0
    assert "stream_project.yml:12:13" in result.output
    assert (
        "model 'orders_clean': the WebAssembly file 'transforms/clean.wasm' does not exist"
        in flat(result.output)
    )
    assert "Traceback" not in result.output


def test_a_file_that_is_not_webassembly_is_a_compile_error(sluice_project, only_redpanda):
    project = make(sluice_project, OFFLINE, MODEL, wasm=b"#!/bin/sh\n")
    result = project.run("compile")
    assert result.exit_code != 0
    assert "is not a WebAssembly module" in flat(result.output)


def test_reserved_environment_keys_are_refused(sluice_project, only_redpanda):
    model = MODEL.replace("MODE: strict", "SLUICE_PROJECT: other")
    project = make(sluice_project, OFFLINE, model)
    result = project.run("compile")
    assert result.exit_code != 0
    assert "reserved by sluice" in flat(result.output)


def test_a_transform_without_the_plugin_names_the_distribution(sluice_project, without_redpanda):
    project = make(sluice_project, "  {}\n", MODEL)
    result = project.run("compile")
    assert result.exit_code != 0
    assert (
        "'transform:' needs the plugin distribution 'sluice-redpanda', which is not installed"
        in flat(result.output)
    )
    assert "Traceback" not in result.output

    bare = "  - name: orders_clean\n    materialized: transform\n    from: orders_raw\n"
    project.write({"stream_project.yml": project_text("  {}\n", bare)})
    result = project.run("compile")
    assert result.exit_code != 0
    assert (
        "model 'orders_clean': materialized: transform needs the plugin distribution "
        "'sluice-redpanda', which is not installed" in flat(result.output)
    )
    assert "pip install sluice-redpanda" in result.output


# -- probe ------------------------------------------------------------------------------------


def test_probe_reports_version_brokers_and_capabilities(
    sluice_project, only_redpanda, admin: FakeAdmin, connect: FakeConnect
):
    admin.state.auth = ("superuser", "rp-Secret-7")
    runtime = runtime_of(
        admin,
        f"    user: superuser\n    password: ${{RP_PASSWORD}}\n    connect_url: {connect.url}\n",
    )
    project = make(sluice_project, runtime, MODEL)
    result = project.run("plugins", "--output", "json", env={"RP_PASSWORD": "rp-Secret-7"})
    assert result.exit_code == 0, result.output
    text = result.output
    assert VERSION in text and "3 brokers" in text
    for capability in ("transforms", "users", "redpanda_connect"):
        assert capability in text
    assert "rp-Secret-7" not in text


def test_probe_without_transforms_enabled_refuses_the_transform(
    sluice_project, only_redpanda, admin: FakeAdmin
):
    admin.state.cluster_config["data_transforms_enabled"] = False
    project = make(sluice_project, runtime_of(admin), MODEL)
    result = project.run("plan")
    assert result.exit_code != 0
    assert "transforms" in result.output


# -- plan, apply, replace, prune ----------------------------------------------------------------


def test_apply_deploys_and_awaits_the_transform_and_a_second_plan_is_empty(
    sluice_project, only_redpanda, admin: FakeAdmin
):
    admin.state.polls_until_running = 3
    project = make(sluice_project, runtime_of(admin), MODEL)
    plan = project.run("plan")
    assert plan.exit_code == 0, plan.output
    assert "+ create transform orders_clean (redpanda)" in plan.output

    applied = project.run("apply")
    assert applied.exit_code == 0, applied.output
    deploys = [e for e in admin.state.exchanges if e.path == "/v1/transform/deploy"]
    assert len(deploys) == 1 and deploys[0].wasm == WASM
    import hashlib

    assert deploys[0].metadata == {
        "name": "orders_clean",
        "input_topic": "orders.raw",
        "output_topics": ["orders_clean"],
        "environment": [
            {"key": "MODE", "value": "strict"},
            {"key": PROJECT_KEY, "value": "shop"},
            {"key": SHA_KEY, "value": hashlib.sha256(WASM).hexdigest()},
        ],
    }
    assert admin.state.pending["orders_clean"] == 0  # it waited through the inactive listings

    again = project.run("plan", "--detailed-exitcode")
    assert again.exit_code == 0, again.output
    assert "No changes" in again.output


def test_a_changed_wasm_or_env_is_a_replace(sluice_project, only_redpanda, admin: FakeAdmin):
    project = make(sluice_project, runtime_of(admin), MODEL)
    assert project.run("apply").exit_code == 0
    set_wasm(project, WASM + b"v2")
    plan = project.run("plan")
    assert "-/+ replace transform orders_clean (redpanda)" in plan.output
    assert "wasm_sha256" in plan.output
    assert project.run("apply").exit_code == 0
    assert admin.state.binaries["orders_clean"] == WASM + b"v2"
    assert project.run("plan", "--detailed-exitcode").exit_code == 0

    project.write(
        {"stream_project.yml": project_text(runtime_of(admin), MODEL.replace("strict", "lax"))}
    )
    plan = project.run("plan")
    assert "-/+ replace transform orders_clean (redpanda)" in plan.output
    assert "environment" in plan.output


def test_a_removed_model_is_pruned_only_with_prune(sluice_project, only_redpanda, admin: FakeAdmin):
    admin.state.transforms["someone_elses"] = {
        "name": "someone_elses",
        "input_topic": "a",
        "output_topics": ["b"],
        "environment": [],
    }
    project = make(sluice_project, runtime_of(admin), MODEL + OTHER)
    assert project.run("apply").exit_code == 0
    project.write({"stream_project.yml": project_text(runtime_of(admin), MODEL)})

    plan = project.run("plan")
    assert "- delete transform orders_copy (redpanda)" in plan.output
    assert "someone_elses" not in plan.output
    assert project.run("apply").exit_code == 0
    assert "orders_copy" in admin.state.transforms

    pruned = project.run("apply", "--prune")
    assert pruned.exit_code == 0, pruned.output
    assert sorted(admin.state.transforms) == ["orders_clean", "someone_elses"]
    deletes = [(e.path, e.status) for e in admin.state.exchanges if e.method == "DELETE"]
    assert deletes == [("/v1/transform/orders_copy", 200)]


def test_a_foreign_transform_of_the_same_name_is_a_plan_error(
    sluice_project, only_redpanda, admin: FakeAdmin
):
    admin.state.transforms["orders_clean"] = {
        "name": "orders_clean",
        "input_topic": "orders.raw",
        "output_topics": ["orders_clean"],
        "environment": [],
    }
    project = make(sluice_project, runtime_of(admin), MODEL)
    result = project.run("plan")
    assert result.exit_code != 0
    assert "that this project does not manage" in flat(result.output)


def test_an_api_error_surfaces_with_its_message(sluice_project, only_redpanda, admin: FakeAdmin):
    admin.state.topics = {"orders.raw"}  # the output topic was not created
    project = make(sluice_project, runtime_of(admin), MODEL)
    result = project.run("apply")
    assert result.exit_code != 0
    assert (
        "answered POST /v1/transform/deploy with 400: topic does not exist: orders_clean"
        in flat(result.output)
    )


def test_errored_partitions_fail_the_apply(sluice_project, only_redpanda, admin: FakeAdmin):
    admin.state.errored = True
    project = make(sluice_project, runtime_of(admin), MODEL)
    result = project.run("apply")
    assert result.exit_code != 0
    assert "transform 'orders_clean' errored on partition(s) 0, 1, 2" in flat(result.output)


def test_status_shows_the_running_transform(sluice_project, only_redpanda, admin: FakeAdmin):
    project = make(sluice_project, runtime_of(admin), MODEL)
    assert project.run("apply").exit_code == 0
    result = project.run("status")
    assert result.exit_code == 0, result.output
    assert "orders_clean" in result.output and "RUNNING" in result.output


def test_with_the_kafka_plugin_the_transforms_output_topic_is_created_first(
    sluice_project, monkeypatch
):
    # sluice-kafka creates the topic of every kind whose output is a real topic (stage 0),
    # so the transform (stage 1) finds its output topic when it is deployed
    monkeypatch.setenv("SLUICE_DISABLE_PLUGINS", "flink,connect,conduktor,webhook")
    runtime = OFFLINE + '  kafka: { bootstrap_servers: "localhost:9092" }\n'
    project = make(sluice_project, runtime, MODEL)

    result = project.run("compile")

    assert result.exit_code == 0, result.output
    topics = json.loads((project.path / "target" / "kafka" / "topics.json").read_text())
    assert [t["name"] for t in topics] == ["orders_clean"]
