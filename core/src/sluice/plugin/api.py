"""The values plugins and the core exchange through hooks.

They are plain frozen dataclasses: easy to build in a plugin, print, compare and serialise.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel

Scope = Literal["runtime", "model", "source", "test"]


@dataclass(frozen=True)
class ConfigSection:
    """A block of the project format that a plugin owns and validates with ``model``.

    ``scope="runtime"`` owns ``runtime.<key>``; the ``capabilities`` are what the plugin offers
    once that section is configured. ``scope="model"`` (or ``source``, ``test``) owns a key of
    each such node, for example a model's ``flink:`` block.
    """

    scope: Scope
    key: str
    model: type[BaseModel]
    capabilities: tuple[str, ...] = ()
    description: str = ""
    # leave ``${VAR}`` in this block as written: the plugin resolves it when it applies, so
    # secrets never reach compiled artifacts and offline commands need no credentials
    keep_variables: bool = False


@dataclass(frozen=True)
class Materialization:
    """A ``materialized:`` kind: what it needs, and whether a model's SQL fits it.

    ``check`` receives the model being compiled and returns why the model cannot use this
    kind (a sentence), or None when it can. ``sql`` says whether models of this kind carry
    SQL (``required``), may (``optional``) or must not (``forbidden``, e.g. sinks use ``from:``).
    ``needs_with_sql`` are further capabilities needed when the model's SQL transforms data.
    ``output_topic`` says whether the model's result can be read as a topic by its dependants,
    and ``real_topic`` whether that topic must exist on the brokers (False for a topic the
    Gateway serves virtually), so the plugin that manages topics creates it. ``served_at``
    names the runtime setting (``<section>.<key>``, e.g. ``conduktor.proxy_bootstrap``) that
    holds the Kafka address readers of such a topic connect to instead of the brokers.
    """

    name: str
    needs: tuple[str, ...]
    description: str
    sql: Literal["required", "optional", "forbidden"] = "required"
    needs_with_sql: tuple[str, ...] = ()
    output_topic: bool = True
    real_topic: bool = True
    check: Callable[[Any], str | None] | None = None
    served_at: str | None = None


@dataclass(frozen=True)
class ProbeResult:
    """What a plugin found when it contacted its system."""

    reachable: bool
    capabilities: tuple[str, ...] = ()
    version: str | None = None
    detail: str | None = None  # e.g. "3 brokers, cluster id ..." or why it is unreachable


@dataclass(frozen=True)
class Artifact:
    """Something a plugin compiled for a node: a topic spec, a Flink job, a connector ...

    ``spec`` is JSON-serialisable and is what plan compares with the live system; ``file`` and
    ``text`` give a readable copy written under ``target/`` (e.g. ``flink/orders.sql``).
    """

    plugin: str
    kind: str
    name: str
    spec: Mapping[str, Any]
    file: str | None = None
    text: str | None = None

    @property
    def key(self) -> str:
        return f"{self.plugin}:{self.kind}:{self.name}"


def written_in_transactions(artifacts: Iterable[Artifact]) -> bool:
    """Whether a node's artifacts write its topic in Kafka transactions (one says so with
    ``transactional: true`` in its spec): its readers must then read committed records only."""
    return any(
        isinstance(a.spec, Mapping) and a.spec.get("transactional") is True for a in artifacts
    )


@dataclass(frozen=True)
class Change:
    """One change a plan proposes: create, update, replace or delete of a resource."""

    plugin: str
    action: Literal["create", "update", "replace", "delete", "none"]
    kind: str
    name: str
    node: str | None = None  # unique id of the node it belongs to (None for orphans)
    diff: Mapping[str, tuple[Any, Any]] = field(default_factory=dict)  # field -> (live, desired)
    destructive: bool = False
    reason: str | None = None
    payload: Mapping[str, Any] = field(default_factory=dict)  # what apply needs
    # the order of one node's changes: 0 storage (topics, schemas, ACLs), 1 processing (jobs),
    # 2 delivery (connectors); deletes run in the reverse order
    stage: int = 1


@dataclass(frozen=True)
class PlanWarning:
    """Something a plan should tell the user that changes nothing in the live systems: a
    setting the system ignores, a resource that looks wrong. A plugin returns it among the
    changes of ``sluice_plan``; sluice shows it as a ``warning:`` line and never applies it or
    counts it as a change."""

    plugin: str
    message: str
    node: str | None = None  # unique id of the node it is about, if any


@dataclass(frozen=True)
class ApplyResult:
    change: Change
    status: Literal["success", "error", "skipped"]
    message: str = ""
    seconds: float = 0.0


@dataclass(frozen=True)
class TestResult:
    test: str  # unique id
    status: Literal["pass", "fail", "warn", "error", "skipped"]
    message: str = ""
    failures: int = 0
    details: Sequence[Mapping[str, Any]] = ()


@dataclass(frozen=True)
class LineageEdge:
    """A data-flow edge between two datasets or jobs, optionally at column level."""

    source: str
    target: str
    kind: str = "data"  # data | consumes | produces
    columns: Mapping[str, Sequence[str]] = field(default_factory=dict)  # target col -> sources
    detail: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class StatusItem:
    node: str
    plugin: str
    resource: str
    state: str  # e.g. RUNNING, EXISTS, MISSING, FAILED
    detail: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class DevService:
    """A local service a plugin contributes to ``sluice dev up``.

    ``prepare(state_dir)`` fetches and configures (idempotent, may take long once),
    ``command(state_dir)`` gives the argv of the long-running process, ``ready(state_dir)``
    says whether it answers, and ``env(state_dir)`` the ``NAME=value`` pairs written to
    ``.sluice/dev/env`` once it does. ``after`` names services that must be ready first.
    """

    name: str
    command: Callable[[Path], Sequence[str]]
    ready: Callable[[Path], bool]
    env: Callable[[Path], Mapping[str, str]]
    prepare: Callable[[Path], None] | None = None
    after: tuple[str, ...] = ()
    start_timeout: float = 120.0
    process_env: Callable[[Path], Mapping[str, str]] | None = None
    stop_signal: int = 15  # SIGTERM; e.g. SIGINT for PostgreSQL's fast shutdown
