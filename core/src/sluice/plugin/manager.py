"""The plugin manager: loads built-ins and installed plugins and calls their hooks.

The rest of sluice calls the typed methods of :class:`PluginManager`, never ``pm.hook``
directly, so every call can be attributed to the plugin that answered, a plugin that crashes
is reported by name (not as a traceback), and probes run in parallel with a timeout.
"""

from __future__ import annotations

import os
import queue
import threading
import time
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

import pluggy

from sluice.errors import PluginError, SluiceError
from sluice.plugin import NAME, spec
from sluice.plugin.api import (
    ApplyResult,
    Artifact,
    Change,
    ConfigSection,
    DevService,
    LineageEdge,
    Materialization,
    PlanWarning,
    ProbeResult,
    StatusItem,
    TestResult,
)

DISABLE_ENV = "SLUICE_DISABLE_PLUGINS"
BUILTINS = ("sluice.builtin.lineage",)


@dataclass(frozen=True)
class PluginInfo:
    name: str
    module: str
    distribution: str | None = None
    version: str | None = None
    builtin: bool = False
    error: str | None = None  # set when the plugin failed to load


@dataclass(frozen=True)
class ProbeReport:
    plugin: str
    result: ProbeResult | None  # None: the plugin has nothing configured
    seconds: float
    error: str | None = None  # why the probe failed or timed out

    @property
    def available(self) -> bool:
        return self.result is not None and self.result.reachable and self.error is None


class Kinds(dict[str, tuple[str, Materialization]]):
    """``materialized:`` kind -> (plugin, definition) of the plugin that provides it first.

    Several plugins may provide one kind (a ``sink`` through Kafka Connect or through Redpanda
    Connect): ``providers`` lists them all, in the order plugins are registered, and
    :func:`sluice.materialization.choose_provider` picks one per model.
    """

    def __init__(self) -> None:
        super().__init__()
        self.providers: dict[str, list[tuple[str, Materialization]]] = {}


@dataclass
class PluginManager:
    """Loads plugins once and offers one typed method per hook."""

    load_entry_points: bool = True
    extra_plugins: Sequence[tuple[str, ModuleType | object]] = ()
    _pm: pluggy.PluginManager = field(init=False)
    plugins: list[PluginInfo] = field(init=False, default_factory=list)
    calls: Counter[str] = field(init=False, default_factory=Counter)

    def __post_init__(self) -> None:
        self._pm = pluggy.PluginManager(NAME)
        self._pm.add_hookspecs(spec)
        self._lock = threading.Lock()
        # each hook's implementations in calling order: compile hooks are called for every
        # node, so the order is worked out once per hook
        self._ordered: dict[str, list[pluggy.HookImpl]] = {}
        blocked = {n.strip() for n in os.environ.get(DISABLE_ENV, "").split(",") if n.strip()}
        for module_name in BUILTINS:
            module = __import__(module_name, fromlist=["_"])
            self._register(
                module_name.rsplit(".", 1)[1],
                module,
                PluginInfo(
                    module_name.rsplit(".", 1)[1], module_name, "sluice-core", _core_version(), True
                ),
            )
        for name, plugin in self.extra_plugins:
            if name not in blocked:
                self._register(name, plugin, PluginInfo(name, getattr(plugin, "__name__", name)))
        if self.load_entry_points:
            self._load_entry_points(blocked)
        self._pm.check_pending()

    # -- loading ------------------------------------------------------------------------------

    def _register(self, name: str, plugin: object, info: PluginInfo) -> None:
        self._pm.register(plugin, name=name)
        self.plugins.append(info)
        self._ordered.clear()

    def _load_entry_points(self, blocked: set[str]) -> None:
        from importlib_metadata import entry_points

        for ep in sorted(entry_points(group=NAME), key=lambda e: e.name):
            if ep.name in blocked or self._pm.has_plugin(ep.name):
                continue
            dist = ep.dist.name if ep.dist else None
            version = ep.dist.version if ep.dist else None
            try:
                module = ep.load()
            except Exception as exc:  # a broken plugin must not break sluice
                self.plugins.append(
                    PluginInfo(
                        ep.name, ep.value, dist, version, error=f"{type(exc).__name__}: {exc}"
                    )
                )
                continue
            self._register(ep.name, module, PluginInfo(ep.name, ep.value, dist, version))

    @property
    def names(self) -> list[str]:
        return [p.name for p in self.plugins if p.error is None]

    # -- calling ------------------------------------------------------------------------------

    def _impls(self, hook: str, only: str | None = None) -> list[pluggy.HookImpl]:
        ordered = self._ordered.get(hook)
        if ordered is None:
            impls = getattr(self._pm.hook, hook).get_hookimpls()  # in registration order
            # honour tryfirst/trylast; the sort is stable, so registration order is kept otherwise
            ordered = self._ordered[hook] = sorted(impls, key=lambda i: (not i.tryfirst, i.trylast))
        return [i for i in ordered if only is None or i.plugin_name == only]

    def _call(self, impl: pluggy.HookImpl, hook: str, kwargs: Mapping[str, Any]) -> Any:
        with self._lock:
            self.calls[hook] += 1
        args = {name: kwargs[name] for name in impl.argnames}
        try:
            return impl.function(**args)
        except SluiceError:
            raise
        except Exception as exc:
            raise PluginError(
                f"plugin '{impl.plugin_name}' failed in {hook}: {type(exc).__name__}: {exc}",
                hint="this is a bug in the plugin; run with --debug for the traceback "
                f"and report it to its authors, or disable it with {DISABLE_ENV}="
                f"{impl.plugin_name}",
            ) from exc

    def _collect(self, hook: str, only: str | None = None, **kwargs: Any) -> list[tuple[str, Any]]:
        """Call ``hook`` on each plugin (or only one) and pair each answer with its plugin."""
        answers = []
        for impl in self._impls(hook, only):
            result = self._call(impl, hook, kwargs)
            if result is not None:
                answers.append((impl.plugin_name, result))
        return answers

    def _flatten(self, hook: str, **kwargs: Any) -> list[tuple[str, Any]]:
        return [(p, item) for p, items in self._collect(hook, **kwargs) for item in items]

    # -- config -------------------------------------------------------------------------------

    def config_sections(self) -> list[tuple[str, ConfigSection]]:
        """Every section plugins own, with the plugin that owns it."""
        return self._flatten("sluice_config_sections")

    # -- probe --------------------------------------------------------------------------------

    def probe(self, runtime: Mapping[str, Any], timeout: float = 5.0) -> list[ProbeReport]:
        """Probe every plugin in parallel; a probe that raises or overruns is "not available".

        Each probe runs in a daemon thread, so a probe that hangs never delays the answer
        (or the exit of the process) beyond ``timeout``.
        """
        impls = self._impls("sluice_probe")
        answers: queue.Queue[tuple[str, Any, str | None, float]] = queue.Queue()
        started = time.monotonic()

        def run(impl: pluggy.HookImpl) -> None:
            try:
                result = self._call(impl, "sluice_probe", {"runtime": runtime, "timeout": timeout})
                answers.put((impl.plugin_name, result, None, time.monotonic() - started))
            except SluiceError as exc:
                answers.put((impl.plugin_name, None, exc.message, time.monotonic() - started))

        for impl in impls:
            threading.Thread(
                target=run, args=(impl,), daemon=True, name=f"probe-{impl.plugin_name}"
            ).start()
        found: dict[str, ProbeReport] = {}
        while len(found) < len(impls):
            remaining = timeout - (time.monotonic() - started)
            if remaining <= 0:
                break
            try:
                name, result, error, seconds = answers.get(timeout=remaining)
            except queue.Empty:
                break
            found[name] = ProbeReport(name, result, seconds, error)
        return [
            found.get(i.plugin_name)
            or ProbeReport(i.plugin_name, None, timeout, f"no answer within {timeout:g}s")
            for i in impls
        ]

    # -- materialize --------------------------------------------------------------------------

    def materializations(self) -> Kinds:
        """``materialized:`` kind -> (plugin, definition) of its first provider; every
        provider of a kind is in ``providers``. One plugin claiming a kind twice is an error."""
        kinds = Kinds()
        for plugin, item in self._flatten("sluice_materializations"):
            providers = kinds.providers.setdefault(item.name, [])
            if any(owner == plugin for owner, _ in providers):
                raise PluginError(
                    f"plugin '{plugin}' provides materialization '{item.name}' twice",
                    hint="this is a bug in the plugin; report it to its authors",
                )
            providers.append((plugin, item))
            kinds.setdefault(item.name, (plugin, item))
        return kinds

    def compile_node(self, node: Any, context: Any) -> list[Artifact]:
        return self._checked_artifacts("sluice_compile", node=node, context=context)

    def secure_node(self, node: Any, context: Any) -> list[Artifact]:
        return self._checked_artifacts("sluice_secure", node=node, context=context)

    def _checked_artifacts(self, hook: str, **kwargs: Any) -> list[Artifact]:
        artifacts = []
        for plugin, item in self._flatten(hook, **kwargs):
            if not isinstance(item, Artifact) or item.plugin != plugin:
                raise PluginError(
                    f"plugin '{plugin}' returned {item!r} from {hook}; expected an Artifact "
                    f"whose plugin is '{plugin}'"
                )
            if item.file is not None and not _plain_relative(item.file):
                raise PluginError(
                    f"plugin '{plugin}' returned an artifact whose file {item.file!r} is not a "
                    f"path inside target/{plugin}/ (names joined by '/', no '..')"
                )
            artifacts.append(item)
        return artifacts

    def plan(self, artifacts: Iterable[Artifact], context: Any) -> list[Change]:
        """The changes of :meth:`plan_with_warnings`, without the warnings."""
        return self.plan_with_warnings(artifacts, context)[0]

    def plan_with_warnings(
        self, artifacts: Iterable[Artifact], context: Any
    ) -> tuple[list[Change], list[PlanWarning]]:
        """Ask each plugin to diff its own artifacts (plugins with none are still asked);
        the :class:`PlanWarning` items of their answers are kept apart from the changes."""
        by_plugin: dict[str, list[Artifact]] = {name: [] for name in self.names}
        for artifact in artifacts:
            by_plugin.setdefault(artifact.plugin, []).append(artifact)
        changes: list[Change] = []
        warnings: list[PlanWarning] = []
        for plugin, own in by_plugin.items():
            for _, answer in self._collect(
                "sluice_plan", only=plugin, artifacts=own, context=context
            ):
                for item in answer:
                    (warnings if isinstance(item, PlanWarning) else changes).append(item)
        return changes, warnings

    def apply_started(self, context: Any) -> None:
        self._collect("sluice_apply_started", context=context)

    def apply_batch(
        self, plugin: str, changes: Sequence[Change], context: Any
    ) -> list[ApplyResult] | None:
        """The owner's results for ``changes`` applied at once, or None if it takes no batches."""
        answers = self._collect("sluice_apply_batch", only=plugin, changes=changes, context=context)
        if not answers:
            return None
        results = list(answers[0][1])
        if [r.change for r in results] != list(changes):
            raise PluginError(
                f"plugin '{plugin}' answered sluice_apply_batch with results that do not match "
                "its changes one for one, in order"
            )
        return results

    def apply_finished(self, context: Any, results: Sequence[ApplyResult]) -> None:
        self._collect("sluice_apply_finished", context=context, results=results)

    def apply(self, change: Change, context: Any) -> ApplyResult:
        answers = self._collect("sluice_apply", only=change.plugin, change=change, context=context)
        if not answers:
            raise PluginError(
                f"no plugin '{change.plugin}' is loaded to apply {change.kind} {change.name}"
            )
        result: ApplyResult = answers[0][1]
        return result

    def status(
        self, nodes: Sequence[Any], artifacts: Sequence[Artifact], context: Any
    ) -> list[StatusItem]:
        return [
            item
            for _, item in self._flatten(
                "sluice_status", nodes=nodes, artifacts=artifacts, context=context
            )
        ]

    # -- test ---------------------------------------------------------------------------------

    def test_types(self) -> dict[str, list[str]]:
        """Test type -> plugins that can run it."""
        types: dict[str, list[str]] = {}
        for plugin, kind in self._flatten("sluice_test_types"):
            types.setdefault(kind, []).append(plugin)
        return types

    def run_test(self, test: Any, context: Any) -> TestResult | None:
        answers = self._collect("sluice_run_test", test=test, context=context)
        return answers[0][1] if answers else None

    # -- lineage and dev ----------------------------------------------------------------------

    def lineage(self, manifest: Any, context: Any = None) -> list[LineageEdge]:
        return [
            edge for _, edge in self._flatten("sluice_lineage", manifest=manifest, context=context)
        ]

    def dev_services(self) -> list[tuple[str, DevService]]:
        return self._flatten("sluice_dev_services")

    def hook_names(self) -> list[str]:
        return sorted(n for n in dir(spec) if n.startswith("sluice_"))


def _core_version() -> str:
    from sluice import __version__

    return __version__


def _plain_relative(path: str) -> bool:
    """``a/b.sql``, not ``/a``, ``../a``, ``a//b``, ``a\\b`` or ``.``: a file a plugin may
    write under its folder of ``target/``."""
    parts = path.split("/")
    return all(part not in ("", ".", "..") and "\\" not in part for part in parts)
