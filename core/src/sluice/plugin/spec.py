"""Every hook a sluice plugin may implement, one per function, grouped by family.

Hooks that return lists are called on every plugin and the core concatenates the answers;
a plugin with nothing to say returns None (or omits the hook). Hooks that act on one resource
(``sluice_apply``) are called only on the plugin that owns it.

Families: config, probe, materialize (compile, plan, apply, status), test, secure, lineage, dev.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from sluice.plugin import hookspec

if TYPE_CHECKING:
    from sluice.compiler import CompileContext
    from sluice.manifest import Manifest
    from sluice.nodes import Node
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
    from sluice.runtime import RunContext


# -- config -----------------------------------------------------------------------------------


@hookspec
def sluice_config_sections() -> Sequence[ConfigSection] | None:
    """config: the project-format sections this plugin owns.

    Called once when the project is loaded. Return a :class:`ConfigSection` for each
    ``runtime.<key>`` the plugin owns (with the capabilities it provides once configured) and
    for each per-node block (``scope="model"`` etc.). The core validates those sections with
    the given pydantic model and rejects every key that no section claims.
    """


# -- probe ------------------------------------------------------------------------------------


@hookspec
def sluice_probe(runtime: Mapping[str, Any], timeout: float) -> ProbeResult | None:
    """probe: contact this plugin's system and say what it can do right now.

    ``runtime`` maps each configured ``runtime.<key>`` to its validated model. Return None
    when none of this plugin's sections is configured. Called in parallel with the other
    plugins' probes, each bounded by ``timeout`` seconds; raising means "not available" and
    the exception's text is shown to the user as the reason.
    """


# -- materialize --------------------------------------------------------------------------------


@hookspec
def sluice_materializations() -> Sequence[Materialization] | None:
    """materialize: the ``materialized:`` kinds this plugin provides and what each needs."""


@hookspec
def sluice_compile(node: Node, context: CompileContext) -> Sequence[Artifact] | None:
    """materialize: compile one node into this plugin's artifacts.

    Called for every source and model in graph order, after the core resolved the node's
    materialization, rendered and analysed its SQL and its upstream nodes were compiled
    (``context.nodes``). Return the artifacts this plugin deploys for the node (a topic,
    a Flink job, a connector ...), or None. Raise :class:`sluice.errors.ProjectError` with
    the node's location for user errors.
    """


@hookspec
def sluice_plan(
    artifacts: Sequence[Artifact], context: RunContext
) -> Sequence[Change | PlanWarning] | None:
    """materialize: diff this plugin's desired artifacts with the live system.

    ``artifacts`` holds the artifacts this plugin compiled for the selected nodes;
    ``context.project_artifacts(plugin)`` holds those of the whole project. Return one
    :class:`Change` per resource that differs, including deletes (``node=None``) of resources
    the plugin manages whose node left the project — never of resources it does not manage.
    With ``context.destroy`` set, return deletes of the resources of ``artifacts``. Add a
    :class:`PlanWarning` for anything the user should hear of that changes nothing (a setting
    the system ignores): plan shows it, and it never counts as a change.
    """


@hookspec
def sluice_apply_started(context: RunContext) -> None:
    """materialize: an apply (or destroy) is about to change the systems.

    Called on every plugin once, before the first change. A plugin that guards a project
    against concurrent runs takes its lock here and raises
    :class:`sluice.errors.ConcurrencyError` naming the holder when another run has it; then
    nothing is applied.
    """


@hookspec(firstresult=True)
def sluice_apply(change: Change, context: RunContext) -> ApplyResult | None:
    """materialize: carry out one change this plugin planned. Called only on its owner."""


@hookspec(firstresult=True)
def sluice_apply_batch(
    changes: Sequence[Change], context: RunContext
) -> Sequence[ApplyResult] | None:
    """materialize: carry out several independent changes at once (optional).

    Called only on the plugin that planned them, with changes of one step (storage,
    processing or delivery) of the nodes of one graph layer, which depend on none of each
    other. Return one :class:`ApplyResult` per change, in the same order — for example after
    one bulk request — or None to have them applied one by one with ``sluice_apply``.
    """


@hookspec
def sluice_apply_finished(context: RunContext, results: Sequence[ApplyResult]) -> None:
    """materialize: the apply is over (also after a failure): release locks, flush state."""


@hookspec
def sluice_status(
    nodes: Sequence[Node], artifacts: Sequence[Artifact], context: RunContext
) -> Sequence[StatusItem] | None:
    """materialize: the live state of this plugin's resources for ``nodes``."""


# -- test -------------------------------------------------------------------------------------


@hookspec
def sluice_test_types() -> Sequence[str] | None:
    """test: the test ``type:`` values this plugin can run (``sample``, ``schema`` ...)."""


@hookspec(firstresult=True)
def sluice_run_test(test: Node, context: RunContext) -> TestResult | None:
    """test: run one data test, or return None to let another plugin run it.

    Under ``sluice test --watch``, ``context.watch`` (a :class:`sluice.runtime.Watch`) is set
    and continuous tests are run at once, each in its own thread: check the records arriving
    until ``watch.left()`` is 0, then return what was found.
    """


# -- secure -----------------------------------------------------------------------------------


@hookspec
def sluice_secure(node: Node, context: CompileContext) -> Sequence[Artifact] | None:
    """secure: turn a node's ``access:`` and ``mask:`` declarations into this plugin's controls.

    Called after ``sluice_compile`` for every node. Returned artifacts (ACL bindings, masking
    interceptors, RBAC objects ...) are planned and applied like any other.
    """


# -- lineage ----------------------------------------------------------------------------------


@hookspec
def sluice_lineage(manifest: Manifest, context: RunContext | None) -> Sequence[LineageEdge] | None:
    """lineage: edges or facts this plugin can see.

    With ``context`` None the run is offline: return static edges derived from compiled
    artifacts. With a context, a plugin may add runtime facts (consumer groups, lag).
    """


# -- dev --------------------------------------------------------------------------------------


@hookspec
def sluice_dev_services() -> Sequence[DevService] | None:
    """dev: local services this plugin contributes to ``sluice dev up``."""
