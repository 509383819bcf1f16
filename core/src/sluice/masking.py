"""The rules of a model's ``mask:`` that the core checks (DESIGN §3).

With a plugin that provides ``masking`` (Conduktor Gateway), the proxy masks the model's topic
as it serves it. Without one, ``mask:`` is a compile error unless the model asks for
``mask_fallback: materialize``: its stream job (sluice-flink) then masks each record before it
writes it, so the model's topic only ever holds masked values. That fallback needs:

- SQL that sluice runs as a stream job (a topic that applications write cannot be masked on
  the way in): a kind that needs ``stream_jobs``, whose plugin must apply ``mask:`` whenever
  ``masking`` is not among the capabilities (sluice-flink does);
- no reader of the model who may also read the unmasked values upstream: such a principal
  would see through the mask, so that is a compile error too.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sluice.capabilities import Capabilities
from sluice.errors import CapabilityError, ProjectError
from sluice.nodes import ColumnInfo, Node, column_origins
from sluice.plugin.api import ConfigSection, Materialization
from sluice.project.schema import Model

FALLBACK_NEEDS = "stream_jobs"


def fallback_active(model: Model, capabilities: Capabilities) -> bool:
    """Whether the model's job masks its records itself (no proxy masks them)."""
    return bool(model.mask) and "masking" not in capabilities


def check_masking(
    model: Model,
    definition: Materialization,
    capabilities: Capabilities,
    sections: Sequence[tuple[str, ConfigSection]],
    origin: Any,
) -> None:
    """Masking is never dropped: a proxy masks, or the model's own job does, or it is an error."""
    if not fallback_active(model, capabilities):
        return
    where = origin.locate("mask", key=True)
    if model.mask_fallback != "materialize":
        raise CapabilityError(
            f"model '{model.name}' declares mask: but no {capabilities.mode} plugin provides the "
            "capability 'masking'",
            location=where,
            hint=capabilities.missing_hint("masking", sections)
            + "; or set mask_fallback: materialize to publish a masked copy with a Flink job",
        )
    if model.sql is None:
        raise ProjectError(
            f"model '{model.name}': mask_fallback: materialize masks the records its job writes, "
            "but the model has no SQL (applications write its topic)",
            location=origin.locate("mask_fallback", key=True),
            hint=f"mask in a model that reads it: sql: SELECT * FROM {{{{ ref('{model.name}') }}}}"
            " with this mask:",
        )
    if FALLBACK_NEEDS not in (*definition.needs, *definition.needs_with_sql):
        raise ProjectError(
            f"model '{model.name}': mask_fallback: materialize masks the records a stream job "
            f"writes, but the model is materialized as {definition.name}, which no stream job "
            "fills",
            location=origin.locate("mask_fallback", key=True),
            hint="set materialized: topic or flink",
        )


def check_no_bypass(
    model: Model, columns: Sequence[ColumnInfo], nodes: Mapping[str, Node], origin: Any
) -> None:
    """No reader of a masked model may read the same values unmasked further up its lineage."""
    readers = set(model.access.read)
    if not readers:
        return
    by_name = {c.name: c for c in columns}
    for column in sorted(model.mask):
        lineage = by_name[column].lineage
        for node, upstream_column in column_origins(lineage, nodes, stop=_masked):
            both = sorted(readers & set(getattr(node.spec.access, "read", ())))
            if both:
                raise ProjectError(
                    f"model '{model.name}': {both[0]} may read column '{column}' masked here, "
                    f"but also unmasked as '{upstream_column}' of {node.resource_type} "
                    f"'{node.name}', whose access.read lists it",
                    location=origin.locate("access", "read"),
                    hint=f"remove {both[0]} from the access.read of {node.resource_type} "
                    f"'{node.name}', or from this model's",
                )


def _masked(node: Node, column: str) -> bool:
    """Whether an upstream model masks ``column``: the walk up the lineage stops there."""
    return column in getattr(node.spec, "mask", {})
