"""The hook implementations of sluice-flink (thin: the work is in compiler and planner).

The online modules (with httpx and confluent-kafka) and the dev services are imported by the
hooks that need them, so offline commands such as ``compile`` do not pay for loading them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sluice.compiler import CompileContext
from sluice.nodes import Node
from sluice.plugin import hookimpl
from sluice.plugin.api import (
    ApplyResult,
    Artifact,
    Change,
    ConfigSection,
    DevService,
    Materialization,
    PlanWarning,
    ProbeResult,
    StatusItem,
    TestResult,
)
from sluice.runtime import RunContext
from sluice_flink import compiler, continuous
from sluice_flink.config import FlinkConfig, FlinkModelConfig


@hookimpl
def sluice_config_sections() -> Sequence[ConfigSection]:
    """``runtime.flink`` (stream jobs, savepoints) and a model's ``flink:`` block."""
    return [
        ConfigSection(
            "runtime",
            "flink",
            FlinkConfig,
            ("stream_jobs", "savepoints"),
            "an Apache Flink session cluster",
        ),
        ConfigSection("model", "flink", FlinkModelConfig, (), "how a model's Flink job runs"),
    ]


@hookimpl
def sluice_materializations() -> Sequence[Materialization]:
    """``flink``: a Flink SQL job writing an output topic (upsert-kafka when it updates)."""
    return [
        Materialization(
            "flink",
            ("topics", "stream_jobs"),
            "a Flink SQL job writing the model's topic (upsert-kafka when the query updates)",
        )
    ]


@hookimpl
def sluice_compile(node: Node, context: CompileContext) -> Sequence[Artifact] | None:
    """The Flink job of a ``flink`` model, of a ``topic`` model with SQL, or of a continuous
    test."""
    job = compiler.compile_job(node, context) or continuous.compile_test(node, context)
    return [job] if job else None


@hookimpl
def sluice_probe(runtime: Mapping[str, Any], timeout: float) -> ProbeResult | None:
    """Flink's version and slots, whether savepoints have a directory, the SQL Gateway."""
    from sluice_flink import planner

    return planner.probe(runtime, timeout)


@hookimpl
def sluice_plan(
    artifacts: Sequence[Artifact], context: RunContext
) -> Sequence[Change | PlanWarning] | None:
    """Compiled jobs against running ones: by name, then by recorded spec hash; deletes cancel
    a job and delete its consumer group."""
    from sluice_flink import planner

    return planner.plan(artifacts, context) or None


@hookimpl
def sluice_apply(change: Change, context: RunContext) -> ApplyResult | None:
    """Submit, upgrade (savepoint or stateless) or delete one job."""
    from sluice_flink import planner

    return planner.apply(change, context)


@hookimpl
def sluice_status(
    nodes: Sequence[Node], artifacts: Sequence[Artifact], context: RunContext
) -> Sequence[StatusItem] | None:
    """Each job's state and since when, and the savepoint it was restored from."""
    from sluice_flink import planner

    return planner.status(nodes, artifacts, context) or None


@hookimpl
def sluice_dev_services() -> Sequence[DevService]:
    """A Flink session cluster (JobManager, TaskManager) and its SQL Gateway."""
    from sluice_flink import devstack

    return devstack.dev_services()


@hookimpl
def sluice_test_types() -> Sequence[str]:
    """``continuous``: a Flink job checks every record and writes violations to a topic."""
    return [continuous.TEST_TYPE]


@hookimpl
def sluice_run_test(test: Node, context: RunContext) -> TestResult | None:
    """Continuous tests: their job runs the current checks, and the violations of a window
    (not under ``sluice test --watch``, which checks them in process)."""
    from sluice_flink import violations

    return violations.run_test(test, context)
