"""Compiling a project: render, build the graph, analyse SQL, resolve materializations, check
capabilities and governance, and let plugins compile each node into artifacts.

The result is a :class:`sluice.manifest.Manifest`; nothing here talks to a remote system.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from pydantic import BaseModel

from sluice.cache import CompileCache
from sluice.capabilities import Capabilities
from sluice.errors import Location, ProjectErrors, SluiceError
from sluice.governance import check_governance
from sluice.graph import CycleError, Graph
from sluice.manifest import Manifest
from sluice.memory import collector_paused
from sluice.nodes import Node
from sluice.plugin.api import Artifact, ConfigSection, written_in_transactions
from sluice.plugin.manager import PluginManager
from sluice.project import Project
from sluice.project.schema import Model
from sluice.references import render_references
from sluice.resolve import resolve_node, sql_locator

__all__ = ["CompileCache", "CompileContext", "compile_project"]


@dataclass(frozen=True)
class CompileContext:
    """What a plugin sees while it compiles a node."""

    project: Project
    # the nodes resolved so far, in graph order: the node being compiled and all upstream of it
    nodes: Mapping[str, Node]
    capabilities: Capabilities
    artifacts: Mapping[str, Sequence[Artifact]]  # artifacts of the nodes compiled before it
    # plugins ask for the same few places of a node many times (every reader of it asks too)
    _locations: dict[tuple[str, tuple[str | int, ...]], Location] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )

    @property
    def runtime(self) -> Mapping[str, BaseModel]:
        return self.project.runtime

    def upstream(self, node: Node) -> list[Node]:
        return [self.nodes[uid] for uid in node.depends_on]

    def location(self, node: Node, *keys: str | int) -> Location:
        found = self._locations.get((node.unique_id, keys))
        if found is None:
            found = self.project.origin(node.unique_id).locate(*keys)
            self._locations[(node.unique_id, keys)] = found
        return found

    def sql_location(self, node: Node, line: int, column: int) -> Location:
        """Where ``line`` and ``column`` of a model's rendered SQL (``node.sql``) are written in
        the project's files (``Call`` positions of its analysis, say)."""
        origin = self.project.origin(node.unique_id)
        return sql_locator(origin, node.spec.sql or "", node.sql or "")(line, column)

    def written_in_transactions(self, node: Node) -> bool:
        """Whether ``node``'s topic is written in Kafka transactions, so its readers must read
        committed records only: an artifact of the node says so with ``transactional: true``
        in its spec (a node's artifacts are compiled before those of its readers)."""
        return written_in_transactions(self.artifacts.get(node.unique_id, ()))


def compile_project(
    project: Project,
    manager: PluginManager,
    capabilities: Capabilities,
    *,
    sections: Sequence[tuple[str, ConfigSection]] | None = None,
    cache: CompileCache | None = None,
    on_artifacts: Callable[[Sequence[Artifact]], None] | None = None,
) -> Manifest:
    """Compile ``project`` into a manifest; all user errors of a stage are raised together.

    ``on_artifacts`` receives each node's artifacts as soon as they are compiled.
    """
    with collector_paused():
        return _compile(
            project, manager, capabilities, sections, cache or CompileCache(), on_artifacts
        )


def _compile(
    project: Project,
    manager: PluginManager,
    capabilities: Capabilities,
    sections: Sequence[tuple[str, ConfigSection]] | None,
    cache: CompileCache,
    on_artifacts: Callable[[Sequence[Artifact]], None] | None,
) -> Manifest:
    sections = manager.config_sections() if sections is None else sections
    kinds = manager.materializations()
    test_types = manager.test_types() if project.tests else {}
    errors: list[SluiceError] = []

    renders, deps = render_references(project, cache, errors)
    # env_var() may have read secrets while rendering: mask them in every output too
    for secret in project.variables.secrets:
        project.redact.add(secret)
    _raise(errors)
    graph = Graph(
        deps.keys(), [(parent, child) for child, parents in deps.items() for parent in parents]
    )
    cycle = graph.find_cycle()
    if cycle:
        raise CycleError(cycle, location=project.origin(cycle[0]).locate("name"))

    # Each node is compiled by the plugins as soon as it is resolved: a plugin reads only the
    # node and what is upstream of it, and the node's files can be written while the rest of
    # the graph compiles. Once a node has failed to resolve, plugins compile nothing more.
    nodes: dict[str, Node] = {}
    artifacts: dict[str, list[Artifact]] = {}
    context = CompileContext(project, nodes, capabilities, artifacts)
    failed: set[str] = set()
    plugin_errors: list[SluiceError] = []
    for uid in graph.topological_order():
        if any(parent in failed for parent in deps[uid]):
            failed.add(uid)
            continue
        try:
            node = nodes[uid] = resolve_node(
                uid,
                project,
                renders,
                deps[uid],
                nodes,
                kinds,
                capabilities,
                sections,
                cache,
                test_types,
            )
        except ProjectErrors as exc:
            errors.extend(exc.errors)
            failed.add(uid)
            continue
        except SluiceError as exc:
            errors.append(exc)
            failed.add(uid)
            continue
        if errors:
            continue
        try:
            compiled = manager.compile_node(node, context) + manager.secure_node(node, context)
        except SluiceError as exc:
            plugin_errors.append(exc)
            continue
        artifacts[uid] = compiled
        if on_artifacts is not None:
            on_artifacts(compiled)
    _raise(errors)

    partitions = {
        uid: _partitions(project, node.spec)
        for uid, node in nodes.items()
        if node.resource_type == "model" and node.topic
    }
    _raise(check_governance(project, nodes, partitions))
    _raise(plugin_errors)
    return Manifest(
        project=project, graph=graph, nodes=nodes, artifacts=artifacts, capabilities=capabilities
    )


def _raise(errors: Sequence[SluiceError]) -> None:
    if len(errors) == 1:
        raise errors[0]
    if errors:
        raise ProjectErrors(errors)


def _partitions(project: Project, model: Model) -> int | None:
    if model.topic and model.topic.partitions:
        return model.topic.partitions
    return project.defaults.topic.partitions
