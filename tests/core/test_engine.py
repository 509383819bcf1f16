"""plan, apply, destroy and test through the CLI, told with the example webhook plugin.

The webhook plugin's live system is a registry directory (one JSON file per resource), so
every story checks what really changed there.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from sluice.engine import Plan, apply_plan
from sluice.graph import Graph
from sluice.plugin.api import ApplyResult, Change

# only the example plugin: the stories do not depend on what else is installed
ENV = {"SLUICE_DISABLE_PLUGINS": "kafka,flink,connect"}


def shop(
    registry: Path, url: str = "https://hooks.example.com/orders", extra: str = ""
) -> dict[str, str]:
    return {
        "stream_project.yml": f"""
            project:
              name: shop
            runtime:
              webhook:
                registry_dir: {registry}
            sources:
              - name: orders
                topic: orders.v1
                columns:
                  - {{ name: id, type: STRING }}
                  - {{ name: amount, type: DOUBLE }}
            models:
              - name: orders_hook
                materialized: webhook
                from: orders
                webhook:
                  url: {url}
                  headers: {{ Authorization: "${{HOOK_TOKEN:-none}}" }}
            {extra}
            tests:
              - name: hook_answers
                model: orders_hook
                type: webhook_reachable
            """,
    }


@pytest.fixture
def registry(tmp_path: Path) -> Path:
    path = tmp_path / "registry"
    path.mkdir()
    return path


def files(registry: Path) -> list[str]:
    return sorted(p.name for p in registry.iterdir())


def test_a_first_plan_lists_the_creates_and_exits_2_with_detailed_exitcode(
    sluice_project, registry
):
    project = sluice_project(shop(registry))

    result = project.run("plan", "--detailed-exitcode", env=ENV)

    assert result.exit_code == 2, result.output
    assert "+ create webhook orders_hook (webhook)\n" in result.stdout
    assert '    url: (none) -> "https://hooks.example.com/orders"\n' in result.stdout
    assert result.stdout.endswith("Plan: 1 to create, 0 to update, 0 to replace, 0 to delete.\n")
    assert files(registry) == []  # plan changes nothing


def test_apply_creates_then_a_second_apply_does_nothing(sluice_project, registry):
    project = sluice_project(shop(registry))

    first = project.run("apply", env=ENV)
    assert first.exit_code == 0, first.output
    assert files(registry) == ["orders_hook.webhook.json"]
    results = json.loads((project.path / "target" / "run_results.json").read_text())
    assert [(r["node"], r["action"], r["status"]) for r in results["results"]] == [
        ("model.orders_hook", "create", "success")
    ]

    second = project.run("apply", env=ENV)
    assert second.exit_code == 0, second.output
    assert "No changes: the live systems match the project." in second.stdout
    assert project.run("plan", "--detailed-exitcode", env=ENV).exit_code == 0


def test_apply_and_test_with_output_json_print_their_run_results_and_nothing_else(
    sluice_project, registry
):
    project = sluice_project(shop(registry))

    applied = project.run("apply", "--output", "json", env=ENV)
    assert applied.exit_code == 0, applied.output
    results = json.loads(applied.stdout)  # the progress lines went to stderr
    assert results == json.loads((project.path / "target" / "run_results.json").read_text())
    assert [(r["node"], r["action"], r["status"]) for r in results["results"]] == [
        ("model.orders_hook", "create", "success")
    ]
    assert "create  webhook orders_hook ..." in applied.stderr

    again = json.loads(project.run("apply", "--output", "json", env=ENV).stdout)
    assert (again["command"], again["results"]) == ("apply", [])

    tested = project.run("test", "--output", "json", env=ENV)  # nothing answers at that url
    rows = json.loads(tested.stdout)["results"]
    assert (tested.exit_code, [(r["node"], r["status"]) for r in rows]) == (
        1,
        [("test.hook_answers", "fail")],
    )


def test_plan_warnings_are_shown_in_text_and_json_and_never_count_as_changes(
    sluice_project, registry
):
    project = sluice_project(shop(registry, url="http://hooks.example.com/orders"))
    warning = (
        "webhook orders_hook posts records unencrypted to http://hooks.example.com/orders; "
        "prefer https://"
    )

    text = project.run("plan", env=ENV)
    assert f"warning: {warning}\n" in text.stdout
    as_json = json.loads(project.run("plan", "--output", "json", env=ENV).stdout)
    assert as_json["warnings"] == [
        {"plugin": "webhook", "node": "model.orders_hook", "message": warning}
    ]

    applied = project.run("apply", env=ENV)
    assert applied.exit_code == 0, applied.output
    assert f"warning: {warning}" in applied.stderr
    again = project.run("plan", "--detailed-exitcode", env=ENV)
    assert again.exit_code == 0, again.output  # only a warning left: no changes
    assert f"warning: {warning}" in again.stdout
    assert "No changes" in again.stdout


def test_a_changed_field_is_an_update_with_its_diff(sluice_project, registry):
    project = sluice_project(shop(registry))
    assert project.run("apply", env=ENV).exit_code == 0

    project.write(shop(registry, url="https://hooks.example.com/v2/orders"))
    plan = project.run("plan", env=ENV)

    assert "~ update webhook orders_hook (webhook)\n" in plan.stdout
    assert (
        '    url: "https://hooks.example.com/orders" -> "https://hooks.example.com/v2/orders"\n'
        in plan.stdout
    )
    assert project.run("apply", env=ENV).exit_code == 0
    record = json.loads((registry / "orders_hook.webhook.json").read_text())
    assert record["spec"]["url"] == "https://hooks.example.com/v2/orders"


def test_a_model_that_left_the_project_is_deleted_only_with_prune(sluice_project, registry):
    project = sluice_project(shop(registry))
    assert project.run("apply", env=ENV).exit_code == 0
    foreign = registry / "notes.txt"
    foreign.write_text("not sluice's")

    text = shop(registry).pop("stream_project.yml")
    project.write({"stream_project.yml": text.split("            models:")[0]})
    plan = project.run("plan", env=ENV)
    assert (
        "- delete webhook orders_hook (webhook)  # no longer in the project"
        "  (left the project; pass --prune to delete)\n" in plan.stdout
    )
    assert plan.stdout.endswith("Plan: 0 to create, 0 to update, 0 to replace, 0 to delete.\n")

    assert project.run("apply", env=ENV).exit_code == 0
    assert "orders_hook.webhook.json" in files(registry)

    pruned = project.run("apply", "--prune", env=ENV)
    assert pruned.exit_code == 0, pruned.output
    assert files(registry) == ["notes.txt"]  # what sluice does not manage is never touched


def test_a_protected_environment_needs_yes_and_refuses_destruction_without_force(
    sluice_project, registry
):
    project = sluice_project({**shop(registry), "environments/prod.yml": "protected: true\n"})

    refused = project.run("apply", "--env", "prod", env=ENV)
    assert refused.exit_code == 1
    assert "+ create webhook orders_hook (webhook)" in refused.stdout
    assert refused.stderr == (
        "error: environment 'prod' is protected\n"
        "  hint: review the plan above and rerun with --yes to apply it\n"
    )
    assert files(registry) == []
    assert project.run("apply", "--env", "prod", "--yes", env=ENV).exit_code == 0

    text = shop(registry).pop("stream_project.yml")
    project.write({"stream_project.yml": text.split("            models:")[0]})
    destructive = project.run("apply", "--env", "prod", "--yes", "--prune", env=ENV)
    assert destructive.exit_code == 1
    assert destructive.stderr == (
        "error: environment 'prod' refuses destructive changes: delete webhook orders_hook\n"
        "  hint: review the plan; pass --force to carry them out anyway\n"
    )
    assert files(registry) == ["orders_hook.webhook.json"]  # nothing half applied
    forced = project.run("apply", "--env", "prod", "--yes", "--prune", "--force", env=ENV)
    assert forced.exit_code == 0, forced.output
    assert files(registry) == []


def test_a_second_apply_while_one_runs_fails_naming_the_holder(sluice_project, registry):
    project = sluice_project(shop(registry))
    holder = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        (registry / ".sluice-apply.lock").write_text(
            json.dumps(
                {"host": socket.gethostname(), "pid": holder.pid, "since": "2026-11-26T05:00:00"}
            )
        )
        refused = project.run("apply", env=ENV)
        assert refused.exit_code == 1
        assert refused.stderr == (
            f"error: another apply holds the registry {registry}: host {socket.gethostname()}, "
            f"pid {holder.pid}, since 2026-11-26T05:00:00\n"
            "  hint: wait for it to finish; a lock of a process that died is taken over\n"
        )
        assert files(registry) == [".sluice-apply.lock"]  # nothing applied
    finally:
        holder.kill()
        holder.wait()
    # the holder died without releasing: its lock is taken over
    assert project.run("apply", env=ENV).exit_code == 0
    assert files(registry) == ["orders_hook.webhook.json"]


def test_destroy_needs_yes_and_deletes_what_the_selection_manages(sluice_project, registry):
    project = sluice_project(shop(registry))
    assert project.run("apply", env=ENV).exit_code == 0

    unconfirmed = project.run("destroy", env=ENV)
    assert unconfirmed.exit_code == 1
    assert "- delete webhook orders_hook (webhook)  # destroy" in unconfirmed.stdout
    assert "hint: rerun with --yes to confirm" in unconfirmed.stderr
    assert files(registry) == ["orders_hook.webhook.json"]

    assert project.run("destroy", "--yes", env=ENV).exit_code == 0
    assert files(registry) == []


def test_secrets_are_masked_in_plan_output_and_run_results(sluice_project, registry):
    project = sluice_project(shop(registry))
    env = {**ENV, "HOOK_TOKEN": "Bearer s3cr3t-t0ken"}

    plan = project.run("plan", env=env)
    assert "s3cr3t-t0ken" not in plan.output
    assert '"Authorization": "****"' in plan.stdout
    assert project.run("apply", env=env).exit_code == 0
    for path in (project.path / "target").rglob("*"):
        if path.is_file() and path.suffix in (".json", ".sql", ".xml"):
            assert "s3cr3t-t0ken" not in path.read_text(), path


def test_sluice_test_runs_the_plugins_test_type_and_writes_junit(sluice_project, registry):
    # the hook's URL answers nothing: the test fails, and says so in JUnit XML
    project = sluice_project(shop(registry, url="http://127.0.0.1:9/orders"))
    junit = project.path / "target" / "junit.xml"

    result = project.run("test", "--junit-xml", str(junit), env=ENV)

    assert result.exit_code == 1
    assert result.stdout.startswith("FAIL  hook_answers")
    xml = junit.read_text()
    assert '<testsuite name="sluice" tests="1" failures="1" errors="0">' in xml
    assert '<testcase classname="sluice" name="test.hook_answers"><failure message=' in xml


# -- apply's ordering and failure handling, with a stand-in plugin manager --------------------


class Recorder:
    """Applies changes by recording them; the node in ``failing`` fails."""

    def __init__(self, failing: str | None = None) -> None:
        self.failing = failing
        self.applied: list[str] = []
        self.events: list[str] = []

    def apply_started(self, context: object) -> None:
        self.events.append("started")

    def apply_finished(self, context: object, results: list[ApplyResult]) -> None:
        self.events.append(f"finished after {len(results)} results")

    def apply_batch(self, plugin: str, changes: list[Change], context: object) -> None:
        return None  # takes no batches: changes go one by one

    def apply(self, change: Change, context: object) -> ApplyResult:
        self.applied.append(f"{change.node}:{change.kind}")
        if change.node == self.failing:
            return ApplyResult(change, "error", "broker said no")
        return ApplyResult(change, "success")


class Batcher(Recorder):
    """Takes whole batches, as a plugin with a bulk API would."""

    def __init__(self, failing: str | None = None) -> None:
        super().__init__(failing)
        self.batches: list[list[str]] = []

    def apply_batch(self, plugin: str, changes: list[Change], context: object) -> list[ApplyResult]:
        self.batches.append([f"{c.node}:{c.kind}" for c in changes])
        return [self.apply(c, context) for c in changes]


def run(manager: Recorder, changes: list[Change], prune: bool = False) -> list[ApplyResult]:
    graph = Graph(
        ["source.a", "model.b", "model.c", "model.d", "model.e"],
        [
            ("source.a", "model.b"),
            ("model.b", "model.c"),
            ("source.a", "model.d"),
            ("model.c", "model.e"),
        ],
    )
    context = SimpleNamespace(
        manifest=SimpleNamespace(graph=graph), destroy=False, echo=lambda text: None
    )
    return apply_plan(manager, Plan(tuple(changes), prune=prune), context, threads=2)  # type: ignore[arg-type]


def change(node: str | None, kind: str = "topic", action: str = "create", stage: int = 0) -> Change:
    return Change("kafka", action, kind, node or "orphan", node=node, stage=stage)  # type: ignore[arg-type]


def test_a_failed_node_skips_its_dependants_but_not_independent_nodes() -> None:
    manager = Recorder(failing="model.b")
    results = run(manager, [change("model.b"), change("model.c"), change("model.d")])

    by_node = {r.change.node: (r.status, r.message) for r in results}
    assert by_node["model.b"] == ("error", "broker said no")
    assert by_node["model.c"] == ("skipped", "skipped: model.b failed")
    assert by_node["model.d"][0] == "success"
    assert "model.c:topic" not in manager.applied
    assert manager.events == ["started", "finished after 3 results"]


def test_a_failure_reaches_dependants_through_nodes_without_changes() -> None:
    manager = Recorder(failing="model.b")
    results = run(manager, [change("model.b"), change("model.e")])  # model.c has no change

    assert [(r.change.node, r.status, r.message) for r in results][1] == (
        "model.e",
        "skipped",
        "skipped: model.b failed",
    )


def test_a_nodes_later_changes_are_skipped_after_its_first_failure() -> None:
    manager = Recorder(failing="model.b")
    results = run(manager, [change("model.b", "topic"), change("model.b", "job", stage=1)])

    assert [(r.change.kind, r.status) for r in results] == [("topic", "error"), ("job", "skipped")]


def test_independent_nodes_changes_of_one_step_go_to_the_plugin_as_one_batch() -> None:
    manager = Batcher(failing="model.b")
    results = run(
        manager,
        [
            change("model.b", "topic"),
            change("model.d", "topic"),
            change("model.b", "job", stage=1),
            change("model.d", "job", stage=1),
        ],
    )

    # layer 1 holds b and d: their topics in one batch, then the jobs of the nodes still standing
    assert manager.batches == [["model.b:topic", "model.d:topic"]]
    assert manager.applied == ["model.b:topic", "model.d:topic", "model.d:job"]
    by_change = {(r.change.node, r.change.kind): r.status for r in results}
    assert by_change[("model.b", "job")] == "skipped"
    assert by_change[("model.d", "job")] == "success"


def test_orphan_deletes_run_last_and_only_with_prune() -> None:
    orphan = change(None, action="delete")
    manager = Recorder()
    run(manager, [orphan, change("model.b")])
    assert manager.applied == ["model.b:topic"]

    manager = Recorder()
    run(manager, [orphan, change("model.b")], prune=True)
    assert manager.applied == ["model.b:topic", "None:topic"]
