"""The rules of a project's ``governance:`` block, checked on the compiled nodes."""

from __future__ import annotations

import re
from collections.abc import Mapping

from sluice.errors import GovernanceError
from sluice.nodes import Node, column_origins
from sluice.project import Project
from sluice.project.schema import Model

SENSITIVE = {"sensitive", "pii", "restricted"}
MASK = "***"  # what a sensitive column's value is shown as (a null stays null)


def sensitive_columns(node: Node, nodes: Mapping[str, Node]) -> set[str]:
    """The columns of ``node`` classified sensitive (see :data:`SENSITIVE`), or computed from
    such a column anywhere upstream (``nodes``: the resolved nodes by unique id). Whatever
    shows records of ``node`` to people masks these."""

    def sensitive(upstream: Node, name: str) -> bool:
        info = upstream.column(name)
        return info is not None and info.classification in SENSITIVE

    return {
        c.name
        for c in node.columns
        if c.classification in SENSITIVE
        or any(sensitive(*origin) for origin in column_origins(c.lineage, nodes))
    }


def check_governance(
    project: Project, nodes: Mapping[str, Node], topic_partitions: Mapping[str, int | None]
) -> list[GovernanceError]:
    """Every violation, each with the file and line of the key it is about."""
    rules = project.governance
    errors: list[GovernanceError] = []
    pattern = re.compile(rules.topics.naming_pattern) if rules.topics.naming_pattern else None
    tested = {f"model.{t.model}" for t in project.tests.values()}

    for uid, node in nodes.items():
        if node.resource_type not in ("model", "source"):
            continue
        origin = project.origin(uid)
        spec = node.spec
        if node.resource_type == "model":
            assert isinstance(spec, Model)
            label = f"model '{node.name}'"
            if rules.models.require_description and not spec.description:
                errors.append(
                    GovernanceError(
                        f"{label} has no description",
                        location=origin.locate("name"),
                        hint="add description: (governance.models.require_description is on)",
                    )
                )
            if rules.models.require_owner and not spec.owner:
                errors.append(
                    GovernanceError(
                        f"{label} has no owner",
                        location=origin.locate("name"),
                        hint="add owner: (governance.models.require_owner is on)",
                    )
                )
            if rules.models.require_tests and uid not in tested:
                errors.append(
                    GovernanceError(
                        f"{label} has no test",
                        location=origin.locate("name"),
                        hint="add a test with model: "
                        + node.name
                        + " (governance.models.require_tests is on)",
                    )
                )
            if node.topic and uid in topic_partitions:
                where = (
                    origin.locate("topic", "name")
                    if spec.topic and spec.topic.name
                    else origin.locate("name")
                )
                if pattern and not pattern.search(node.topic):
                    errors.append(
                        GovernanceError(
                            f"{label}: topic name '{node.topic}' does not match the naming pattern {pattern.pattern}",
                            location=where,
                            hint="rename the topic with topic: {name: ...} or change governance.topics.naming_pattern",
                        )
                    )
                partitions = topic_partitions[uid]
                where = (
                    origin.locate("topic", "partitions")
                    if spec.topic and spec.topic.partitions
                    else origin.locate("name")
                )
                low, high = rules.topics.min_partitions, rules.topics.max_partitions
                if partitions is not None and low is not None and partitions < low:
                    errors.append(
                        GovernanceError(
                            f"{label}: {_partitions(partitions)} is below the minimum of {low}",
                            location=where,
                            hint=f"set topic: {{partitions: {low}}} or more",
                        )
                    )
                if partitions is not None and high is not None and partitions > high:
                    errors.append(
                        GovernanceError(
                            f"{label}: {_partitions(partitions)} is above the maximum of {high}",
                            location=where,
                            hint=f"set topic: {{partitions: {high}}} or fewer",
                        )
                    )
        if rules.security.require_classification:
            for index, column in enumerate(spec.columns):
                if column.classification is None:
                    errors.append(
                        GovernanceError(
                            f"{node.resource_type} '{node.name}': column '{column.name}' has no classification",
                            location=origin.locate("columns", index),
                            hint="add classification: public | internal | confidential | sensitive | restricted | pii",
                        )
                    )
        if rules.security.sensitive_columns_require_masking and node.resource_type == "model":
            assert isinstance(spec, Model)
            for column in node.columns:
                if column.name in spec.mask:
                    continue
                upstream_sensitive = [
                    ref for ref in column.lineage if _classification(nodes, ref) in SENSITIVE
                ]
                if column.classification in SENSITIVE or upstream_sensitive:
                    origin_of = (
                        f" (from {', '.join(upstream_sensitive)})" if upstream_sensitive else ""
                    )
                    errors.append(
                        GovernanceError(
                            f"model '{node.name}': sensitive column '{column.name}'{origin_of} is exposed without masking",
                            location=origin.locate("name"),
                            hint=f"add mask: {{{column.name}: {{rule: mask_all}}}}, or drop the column from the SELECT",
                        )
                    )
    return errors


def _classification(nodes: Mapping[str, Node], ref: str) -> str | None:
    uid, _, column = ref.rpartition(".")
    node = nodes.get(uid)
    info = node.column(column) if node else None
    return info.classification if info else None


def _partitions(count: int) -> str:
    return f"{count} partition{'s' if count != 1 else ''}"
