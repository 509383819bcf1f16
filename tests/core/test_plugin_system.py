"""The plugin system, told through the example plugin in tests/example_plugin.

The example plugin (distribution ``sluice-example-webhook``) must be installed for most of
these stories: ``pip install -e tests/example_plugin``.
"""

from __future__ import annotations

import importlib
import inspect
import json
import os
import re
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import ModuleType, SimpleNamespace
from typing import Any

import importlib_metadata
import pluggy
import pytest

from sluice.errors import PluginError
from sluice.nodes import Node
from sluice.plugin import hookimpl, spec
from sluice.plugin.api import Artifact, ProbeResult
from sluice.plugin.manager import PluginManager
from sluice.session import Session
from sluice.testing import SluiceProject

REPO = Path(__file__).resolve().parents[2]
DOCS = REPO / "docs" / "plugins.md"

Make = Callable[[Mapping[str, str]], SluiceProject]


@pytest.fixture
def webhook_plugin() -> ModuleType:
    """The example plugin's hook module; fails with the install command when it is missing."""
    try:
        importlib_metadata.distribution("sluice-example-webhook")
    except importlib_metadata.PackageNotFoundError:
        pytest.fail("the example plugin is not installed: pip install -e tests/example_plugin")
    import sluice_webhook.plugin

    return sluice_webhook.plugin


def project_files(registry: Path, url: str = "https://hooks.example.com/orders") -> dict[str, str]:
    """A shop whose orders are posted to a webhook; the registry lives in ``registry``."""
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
                  headers: {{ X-Team: shop }}
                access: {{ read: ["User:auditor"] }}
            """,
    }


def others_blocked(*names: str) -> str:
    """``SLUICE_DISABLE_PLUGINS`` for ``names`` plus every other installed plugin.

    Error hints list what is installed; blocking the rest keeps the expected text independent
    of which other plugins happen to be in the environment.
    """
    others = sorted(ep.name for ep in importlib_metadata.entry_points(group="sluice"))
    return ",".join(dict.fromkeys([*names, *others]))


@dataclass
class RunStandIn:
    """What the example plugin reads from a run context (``sluice.runtime`` is not built yet)."""

    runtime: Mapping[str, Any]
    destroy: bool = False
    timeout: float = 2.0


# -- discovery --------------------------------------------------------------------------------


def test_installed_plugin_is_discovered_through_its_entry_point(
    webhook_plugin: ModuleType, sluice_project: Make, tmp_path: Path
) -> None:
    project = sluice_project(project_files(tmp_path / "registry"))

    result = project.run("plugins", "--output", "json", "--no-probe")

    assert result.exit_code == 0, result.output
    row = next(r for r in result.json() if r["name"] == "webhook")
    assert row["distribution"] == "sluice-example-webhook"
    assert row["version"] == "0.1.0"
    assert row["builtin"] is False
    assert row["sections"] == ["runtime.webhook"]
    assert row["configured"] is True
    assert row["materializations"] == ["webhook"]
    assert row["capabilities"] == ["webhooks"]


def test_a_project_using_the_plugins_kind_compiles(
    webhook_plugin: ModuleType, sluice_project: Make, tmp_path: Path
) -> None:
    project = sluice_project(project_files(tmp_path / "registry"))

    result = project.run("compile")

    assert result.exit_code == 0, result.output
    artifact = json.loads((project.path / "target" / "webhook" / "orders_hook.json").read_text())
    assert artifact == {
        "url": "https://hooks.example.com/orders",
        "headers": {"X-Team": "shop"},
        "topics": ["orders.v1"],
        "format": "json",
        "columns": [{"name": "id", "type": "STRING"}, {"name": "amount", "type": "DOUBLE"}],
    }
    acl = json.loads((project.path / "target" / "webhook" / "orders_hook.acl.json").read_text())
    assert acl == {"webhook": "orders_hook", "readers": ["User:auditor"]}
    node = project.manifest()["nodes"]["model.orders_hook"]
    assert node["materialized"] == "webhook"
    assert node["plugin"] == "webhook"
    assert [(a["kind"], a["name"]) for a in node["artifacts"]] == [
        ("webhook", "orders_hook"),
        ("webhook_acl", "orders_hook"),
    ]


def test_the_plugins_model_section_is_validated(
    webhook_plugin: ModuleType, sluice_project: Make, tmp_path: Path
) -> None:
    files = project_files(tmp_path / "registry", url="ftp://hooks.example.com/orders")
    project = sluice_project(files)

    result = project.run("compile")

    assert result.exit_code == 1
    assert result.output == (
        "error: stream_project.yml:17:12: model 'orders_hook': webhook: url: "
        "'ftp://hooks.example.com/orders' is not an http(s) URL; write e.g. https://host/path\n"
    )


def test_a_misspelt_kind_is_answered_with_the_plugins_kind(
    webhook_plugin: ModuleType, sluice_project: Make, tmp_path: Path
) -> None:
    files = project_files(tmp_path / "registry")
    files["stream_project.yml"] = files["stream_project.yml"].replace(
        "materialized: webhook", "materialized: webhok"
    )
    project = sluice_project(files)

    result = project.run("compile")

    assert result.exit_code == 1
    assert result.output == (
        "error: stream_project.yml:14:19: model 'orders_hook': unknown materialization 'webhok'\n"
        "  hint: did you mean 'webhook'?\n"
    )


# -- SLUICE_DISABLE_PLUGINS --------------------------------------------------------------------

ALLOWED_MODEL_KEYS = (
    "access, columns, description, event_time, format, from, key, mask, mask_fallback, "
    "materialized, meta, name, owner, sql, tags, topic"
)


def test_a_disabled_plugin_leaves_its_keys_unknown(
    webhook_plugin: ModuleType, sluice_project: Make, tmp_path: Path
) -> None:
    project = sluice_project(project_files(tmp_path / "registry"))

    result = project.run("compile", env={"SLUICE_DISABLE_PLUGINS": others_blocked("webhook")})

    assert result.exit_code == 1
    assert "Traceback" not in result.output
    assert result.output == (
        "error: stream_project.yml:4:3: unknown key 'webhook' in runtime\n"
        "  hint: no installed plugin owns it\n"
        "stream_project.yml:16:5: unknown key 'webhook' in model 'orders_hook'\n"
        f"  hint: allowed keys: {ALLOWED_MODEL_KEYS}\n"
        "2 errors found\n"
    )


def test_a_disabled_plugin_leaves_its_kind_unknown(
    webhook_plugin: ModuleType, sluice_project: Make
) -> None:
    project = sluice_project(
        {
            "stream_project.yml": """
            project:
              name: shop
            sources:
              - { name: orders, topic: orders.v1 }
            models:
              - { name: orders_hook, materialized: webhook, from: orders }
            """,
        }
    )

    result = project.run("validate", env={"SLUICE_DISABLE_PLUGINS": others_blocked("webhook")})

    assert result.exit_code == 1
    assert result.output == (
        "error: stream_project.yml:6:40: model 'orders_hook': unknown materialization 'webhook'\n"
        "  hint: installed kinds: none\n"
    )


# -- broken plugins ---------------------------------------------------------------------------


class MisspeltHook:
    @hookimpl
    def sluice_compyle(self, node: Any, context: Any) -> None:
        return None


def test_a_misspelt_hook_fails_when_the_plugin_is_loaded() -> None:
    with pytest.raises(pluggy.PluginValidationError, match="sluice_compyle"):
        PluginManager(load_entry_points=False, extra_plugins=[("misspelt", MisspeltHook())])


CRASHING_PLUGIN = """
from sluice.plugin import hookimpl


@hookimpl
def sluice_compile(node, context):
    raise RuntimeError("compiler on fire")
"""


@pytest.fixture
def crashing_plugin_installed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """Make ``crashy`` look installed: a module on sys.path and an entry point naming it."""
    module = "sluice_crashy_example"
    (tmp_path / "plugin_src").mkdir()
    (tmp_path / "plugin_src" / f"{module}.py").write_text(CRASHING_PLUGIN, encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path / "plugin_src"))
    monkeypatch.delitem(sys.modules, module, raising=False)
    real = importlib_metadata.entry_points

    def entry_points(**params: Any) -> list[importlib_metadata.EntryPoint]:
        found = list(real(**params))
        if params.get("group") == "sluice":
            found.append(importlib_metadata.EntryPoint("crashy", module, "sluice"))
        return found

    monkeypatch.setattr(importlib_metadata, "entry_points", entry_points)
    return "crashy"


def test_a_plugin_that_crashes_is_named_and_no_traceback_is_shown(
    crashing_plugin_installed: str, sluice_project: Make
) -> None:
    project = sluice_project(
        {
            "stream_project.yml": """
            project:
              name: shop
            sources:
              - { name: orders, topic: orders.v1 }
            """,
        }
    )

    result = project.run("compile")

    assert result.exit_code == 1
    assert "Traceback" not in result.output
    assert result.output == (
        "error: plugin 'crashy' failed in sluice_compile: RuntimeError: compiler on fire\n"
        "  hint: this is a bug in the plugin; run with --debug for the traceback and report it "
        "to its authors, or disable it with SLUICE_DISABLE_PLUGINS=crashy\n"
    )


def test_a_plugin_that_crashes_raises_plugin_error_naming_it(
    crashing_plugin_installed: str,
) -> None:
    module = importlib.import_module("sluice_crashy_example")
    manager = PluginManager(load_entry_points=False, extra_plugins=[("crashy", module)])
    node = Node("source.orders", "orders", "source", spec=None, file="stream_project.yml")

    with pytest.raises(PluginError, match=r"^plugin 'crashy' failed in sluice_compile: "):
        manager.compile_node(node, context=None)


@pytest.mark.parametrize("file", ["../escape.sql", "/etc/x", "a//b", ".", "a\\b.sql", ""])
def test_an_artifact_file_outside_the_plugins_folder_is_refused(file: str) -> None:
    class Escaping:
        @hookimpl
        def sluice_compile(self, node: Node, context: Any) -> list[Artifact]:
            return [Artifact("escaping", "job", node.name, {}, file=file, text="x")]

    manager = PluginManager(load_entry_points=False, extra_plugins=[("escaping", Escaping())])
    node = Node("source.orders", "orders", "source", spec=None, file="stream_project.yml")

    with pytest.raises(PluginError) as raised:
        manager.compile_node(node, context=None)

    assert str(raised.value) == (
        f"plugin 'escaping' returned an artifact whose file {file!r} is not a path inside "
        "target/escaping/ (names joined by '/', no '..')"
    )


# -- probes -----------------------------------------------------------------------------------


class SleepyProbe:
    """A plugin whose probe takes ``seconds``; ``release`` ends the wait early."""

    def __init__(self, seconds: float, release: threading.Event) -> None:
        self.seconds = seconds
        self.release = release

    @hookimpl
    def sluice_probe(self, runtime: Mapping[str, Any], timeout: float) -> ProbeResult:
        self.release.wait(self.seconds)
        return ProbeResult(True, ("naps",))


class FailingProbe:
    @hookimpl
    def sluice_probe(self, runtime: Mapping[str, Any], timeout: float) -> ProbeResult:
        raise ConnectionRefusedError("connection refused by relay.example:443")


@pytest.fixture
def release() -> Iterator[threading.Event]:
    event = threading.Event()
    yield event
    event.set()  # let probes the manager stopped waiting for end now


def test_probes_run_in_parallel(release: threading.Event) -> None:
    plugins = [("slow_a", SleepyProbe(2, release)), ("slow_b", SleepyProbe(2, release))]
    manager = PluginManager(load_entry_points=False, extra_plugins=plugins)

    started = time.monotonic()
    reports = manager.probe({}, timeout=3.0)
    elapsed = time.monotonic() - started

    assert elapsed < 3.0
    assert sorted((r.plugin, r.available) for r in reports) == [("slow_a", True), ("slow_b", True)]


def test_a_probe_past_its_timeout_is_unavailable(release: threading.Event) -> None:
    plugins = [("hung", SleepyProbe(10, release))]
    manager = PluginManager(load_entry_points=False, extra_plugins=plugins)

    started = time.monotonic()
    (report,) = manager.probe({}, timeout=0.5)

    assert time.monotonic() - started < 2.0
    assert not report.available
    assert report.error == "no answer within 0.5s"


def test_a_probe_that_raises_gives_its_reason() -> None:
    manager = PluginManager(load_entry_points=False, extra_plugins=[("refused", FailingProbe())])

    (report,) = manager.probe({}, timeout=1.0)

    assert not report.available
    assert report.error is not None
    assert "connection refused by relay.example:443" in report.error
    assert report.error == (
        "plugin 'refused' failed in sluice_probe: ConnectionRefusedError: "
        "connection refused by relay.example:443"
    )


def test_the_webhook_probe_answers_from_its_registry(
    webhook_plugin: ModuleType, tmp_path: Path
) -> None:
    from sluice_webhook.config import WebhookRuntime

    manager = PluginManager(load_entry_points=False, extra_plugins=[("webhook", webhook_plugin)])
    missing = {"webhook": WebhookRuntime(registry_dir=tmp_path / "nowhere")}

    (report,) = manager.probe(missing, timeout=1.0)
    assert not report.available
    assert report.result is not None
    assert (
        report.result.detail
        == f"registry directory {tmp_path / 'nowhere'} is missing or not writable"
    )

    assert manager.probe({}, timeout=1.0)[0].result is None  # not configured: nothing to say


# -- documentation ----------------------------------------------------------------------------


def hook_functions() -> dict[str, Callable[..., Any]]:
    return {
        name: fn
        for name, fn in inspect.getmembers(spec, inspect.isfunction)
        if name.startswith("sluice_")
    }


def test_every_hook_has_a_docstring() -> None:
    undocumented = [name for name, fn in hook_functions().items() if not inspect.getdoc(fn)]
    assert not undocumented, f"hooks without a docstring in sluice.plugin.spec: {undocumented}"


@pytest.mark.parametrize("hook", sorted(hook_functions()))
def test_every_hook_is_described_in_the_plugin_guide(hook: str) -> None:
    guide = DOCS.read_text(encoding="utf-8")
    heading = re.compile(rf"^#+ `{hook}`\s*$", re.MULTILINE)
    assert heading.search(guide), f"docs/plugins.md has no section '### `{hook}`'"


# -- every hook, exercised ----------------------------------------------------------------------


class Receiver(BaseHTTPRequestHandler):
    """Stands for the service a webhook posts to: answers every request with 200."""

    def do_GET(self) -> None:
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, format: str, *args: Any) -> None:
        pass  # keep test output quiet


@pytest.fixture
def receiver() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/orders"
    server.shutdown()
    server.server_close()


def test_the_example_plugin_answers_every_hook(
    webhook_plugin: ModuleType, sluice_project: Make, tmp_path: Path, receiver: str
) -> None:
    registry = tmp_path / "registry"
    registry.mkdir()
    project = sluice_project(project_files(registry, url=receiver))
    manager = PluginManager(load_entry_points=False, extra_plugins=[("webhook", webhook_plugin)])
    session = Session(project.path, manager=manager)

    # config, materialize, compile, secure
    manifest = session.manifest
    artifacts = manifest.all_artifacts()
    assert [(a.kind, a.name) for a in artifacts] == [
        ("webhook", "orders_hook"),
        ("webhook_acl", "orders_hook"),
    ]

    # probe
    (report,) = [r for r in manager.probe(session.project.runtime, 1.0) if r.plugin == "webhook"]
    assert report.available
    assert report.result is not None and report.result.capabilities == ("webhooks",)

    # plan, apply, status, plan again
    context = RunStandIn(session.project.runtime)
    changes = manager.plan(artifacts, context)
    assert [(c.action, c.kind) for c in changes] == [
        ("create", "webhook"),
        ("create", "webhook_acl"),
    ]
    # a plugin's warnings come beside its changes, never among them
    _, warnings = manager.plan_with_warnings(artifacts, context)
    assert [(w.plugin, w.node) for w in warnings] == [("webhook", "model.orders_hook")]
    assert warnings[0].message.startswith("webhook orders_hook posts records unencrypted")
    manager.apply_started(context)
    lock = registry / ".sluice-apply.lock"
    assert json.loads(lock.read_text())["pid"] == os.getpid()
    results = [manager.apply(changes[0], context)]
    results += manager.apply_batch("webhook", changes[1:], context) or []
    manager.apply_finished(context, results)
    assert not lock.exists()
    assert [r.status for r in results] == ["success", "success"]
    assert sorted(p.name for p in registry.iterdir()) == [
        "orders_hook.webhook.json",
        "orders_hook.webhook_acl.json",
    ]
    nodes = list(manifest.nodes.values())
    states = {
        i.resource: (i.state, i.detail["in_sync"])
        for i in manager.status(nodes, artifacts, context)
    }
    assert states == {
        "webhook:orders_hook": ("REGISTERED", True),
        "webhook_acl:orders_hook": ("REGISTERED", True),
    }
    assert manager.plan(artifacts, context) == []

    # test
    assert manager.test_types() == {"webhook_reachable": ["webhook"]}
    test = Node(
        "test.orders_hook_answers",
        "orders_hook_answers",
        "test",
        # the project schema does not accept plugin test types yet, so the spec is a stand-in
        spec=SimpleNamespace(type="webhook_reachable", model="orders_hook"),
        file="tests/hooks.yml",
        depends_on=("model.orders_hook",),
    )
    result = manager.run_test(test, context)
    assert result is not None
    assert (result.status, result.message) == ("pass", f"{receiver} answered HTTP 200")

    # lineage
    edges = manager.lineage(manifest, None)
    assert any(e.source == "model.orders_hook" and e.target == f"webhook:{receiver}" for e in edges)

    # dev
    ((plugin, relay),) = manager.dev_services()
    assert (plugin, relay.name) == ("webhook", "webhook-relay")
    check_relay_starts(relay, tmp_path / "dev")

    # destroy: the resources of the given artifacts are planned for deletion
    doomed = manager.plan(artifacts, RunStandIn(session.project.runtime, destroy=True))
    assert sorted((c.action, c.kind, c.destructive) for c in doomed) == [
        ("delete", "webhook", True),
        ("delete", "webhook_acl", True),
    ]
    for change in doomed:
        assert manager.apply(change, context).status == "success"
    assert list(registry.iterdir()) == []
    assert {i.state for i in manager.status(nodes, artifacts, context)} == {"MISSING"}

    assert set(manager.calls) == set(manager.hook_names())


def check_relay_starts(relay: Any, state_dir: Path) -> None:
    """Start the relay as ``sluice dev up`` would, wait until ready, check its env, stop it."""
    state_dir.mkdir()
    relay.prepare(state_dir)
    assert not relay.ready(state_dir)
    process = subprocess.Popen(
        relay.command(state_dir), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        deadline = time.monotonic() + 10
        while not relay.ready(state_dir) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert relay.ready(state_dir)
        port = (state_dir / "port").read_text()
        assert relay.env(state_dir) == {"WEBHOOK_RELAY_URL": f"http://127.0.0.1:{port}/"}
    finally:
        process.terminate()
        process.wait(timeout=10)


# -- plans, told one change at a time ------------------------------------------------------------


@pytest.fixture
def applied(
    webhook_plugin: ModuleType, sluice_project: Make, tmp_path: Path
) -> tuple[SluiceProject, PluginManager, Path]:
    """The shop project, compiled and applied to an empty registry."""
    registry = tmp_path / "registry"
    registry.mkdir()
    project = sluice_project(project_files(registry))
    manager = PluginManager(load_entry_points=False, extra_plugins=[("webhook", webhook_plugin)])
    session = Session(project.path, manager=manager)
    context = RunStandIn(session.project.runtime)
    for change in manager.plan(session.manifest.all_artifacts(), context):
        manager.apply(change, context)
    return project, manager, registry


def replan(project: SluiceProject, manager: PluginManager) -> list[Any]:
    session = Session(project.path, manager=manager)
    return manager.plan(session.manifest.all_artifacts(), RunStandIn(session.project.runtime))


def test_a_changed_url_is_planned_as_an_update_with_its_diff(
    applied: tuple[SluiceProject, PluginManager, Path],
) -> None:
    project, manager, _ = applied
    text = (project.path / "stream_project.yml").read_text()
    project.write({"stream_project.yml": text.replace("/orders", "/v2/orders")})

    (change,) = replan(project, manager)

    assert (change.action, change.kind, change.name, change.node) == (
        "update",
        "webhook",
        "orders_hook",
        "model.orders_hook",
    )
    assert change.diff == {
        "url": ("https://hooks.example.com/orders", "https://hooks.example.com/v2/orders")
    }


def test_a_model_that_left_the_project_is_deleted_and_foreign_files_are_kept(
    applied: tuple[SluiceProject, PluginManager, Path],
) -> None:
    project, manager, registry = applied
    (registry / "someone_else.json").write_text('{"url": "https://elsewhere.example"}')
    text = (project.path / "stream_project.yml").read_text()
    project.write({"stream_project.yml": text.split("models:")[0]})

    changes = replan(project, manager)

    assert sorted((c.action, c.kind, c.node, c.reason) for c in changes) == [
        ("delete", "webhook", None, "no longer in the project"),
        ("delete", "webhook_acl", None, "no longer in the project"),
    ]
