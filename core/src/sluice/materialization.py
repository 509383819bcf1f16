"""Choosing each model's ``materialized:`` kind and checking that the run can provide it."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from sluice.capabilities import Capabilities
from sluice.errors import CapabilityError, Location, ProjectError, did_you_mean
from sluice.hints import distribution_for_kind, unavailable
from sluice.plugin.api import ConfigSection, Materialization
from sluice.plugin.manager import Kinds
from sluice.project.schema import Model


def infer_kind(
    model: Model,
    stateful: bool | None,
    kinds: Mapping[str, tuple[str, Materialization]],
    capabilities: Capabilities,
    check_target: object,
) -> str:
    """DESIGN §3: sink for ``from:`` without SQL, flink for stateful SQL, else a virtual topic
    when the Gateway is there and the SQL fits it, else a real topic."""
    if model.sql is None:
        return "sink"
    if stateful:
        return "flink"
    virtual = kinds.get("virtual_topic")
    if virtual and "virtual_topics" in capabilities:
        definition = virtual[1]
        if definition.check is None or definition.check(check_target) is None:
            return "virtual_topic"
    return "topic"


def resolve_kind(
    model: Model,
    location: Location,
    kinds: Mapping[str, tuple[str, Materialization]],
) -> tuple[str, Materialization] | None:
    """The declared kind's definition, or a clear error when no plugin provides it."""
    if model.materialized is None:
        return None
    found = kinds.get(model.materialized)
    if found is not None:
        return found
    name = model.materialized
    dist = distribution_for_kind(name)
    if dist is not None:
        why, fix = unavailable(dist)
        raise ProjectError(
            f"model '{model.name}': materialized: {name} needs the plugin distribution "
            f"'{dist}', {why}",
            location=location,
            hint=fix,
        )
    raise ProjectError(
        f"model '{model.name}': unknown materialization '{name}'",
        location=location,
        hint=did_you_mean(name, kinds)
        or "installed kinds: " + (", ".join(sorted(kinds)) or "none"),
    )


def choose_provider(
    model: Model,
    kind: str,
    kinds: Mapping[str, tuple[str, Materialization]],
    capabilities: Capabilities,
    sections: Sequence[tuple[str, ConfigSection]],
    location: Location,
) -> tuple[str, Materialization]:
    """The plugin that materializes ``model`` as ``kind`` when several plugins provide it.

    The model's blocks decide first: the provider that owns a block the model has (a sink's
    ``connector:`` or ``redpanda_connect:``). A model without such a block goes to the first
    provider whose needs the run meets, so a project with one sink runtime configured needs no
    block to say which. When no provider can serve it, the error names what each one needs.
    """
    providers = kinds.providers.get(kind) if isinstance(kinds, Kinds) else None
    if not providers or len(providers) == 1:
        return kinds[kind]
    blocks = {
        section.key: plugin
        for plugin, section in sections
        if section.scope == "model" and section.key in model.extensions
    }
    owning = [p for p in providers if p[0] in blocks.values()]
    if len(owning) > 1:
        written = ", ".join(f"{key}: ({plugin})" for key, plugin in sorted(blocks.items()))
        raise ProjectError(
            f"model '{model.name}' has blocks of several plugins that provide "
            f"materialized: {kind}: {written}",
            location=location,
            hint="keep the block of the one plugin that should run it",
        )
    if owning:
        return owning[0]
    for provider in providers:
        if all(need in capabilities for need in provider[1].needs):
            return provider
    missing = [next(n for n in d.needs if n not in capabilities) for _, d in providers]
    raise CapabilityError(
        f"model '{model.name}': materialized: {kind} needs the capability "
        + " or ".join(f"'{need}'" for need in missing)
        + f", which no {capabilities.mode} plugin provides",
        location=location,
        hint="; or ".join(capabilities.missing_hint(need, sections) for need in missing),
    )


def check_needs(
    model: Model,
    kind: str,
    definition: Materialization,
    capabilities: Capabilities,
    sections: Sequence[tuple[str, ConfigSection]],
    kinds: Mapping[str, tuple[str, Materialization]],
    location: Location,
    check_target: object,
) -> None:
    """Raise :class:`CapabilityError` when the run cannot provide what ``kind`` needs."""
    needs = list(definition.needs)
    if model.sql is not None:
        needs += [n for n in definition.needs_with_sql if n not in needs]
    if definition.sql == "forbidden" and model.sql is not None:
        raise ProjectError(
            f"model '{model.name}': materialized: {kind} takes no SQL",
            location=location,
            hint="name its input with from: and remove sql:",
        )
    if definition.sql == "required" and model.sql is None:
        raise ProjectError(
            f"model '{model.name}': materialized: {kind} needs sql:",
            location=location,
            hint="add the query under sql:, or put it in models/<name>.sql",
        )
    for need in needs:
        if need in capabilities:
            continue
        alternative = _alternative(model, kind, capabilities, kinds, check_target)
        hint = capabilities.missing_hint(need, sections)
        if alternative:
            hint += f"; or use materialized: {alternative}"
        raise CapabilityError(
            f"model '{model.name}': materialized: {kind} needs the capability '{need}', "
            f"which no {capabilities.mode} plugin provides",
            location=location,
            hint=hint,
        )
    if definition.check is not None:
        reason = definition.check(check_target)
        if reason:
            alternative = _alternative(model, kind, capabilities, kinds, check_target)
            raise ProjectError(
                f"model '{model.name}': cannot be materialized as {kind}: {reason}",
                location=location,
                hint=f"use materialized: {alternative}" if alternative else None,
            )


def _alternative(
    model: Model,
    kind: str,
    capabilities: Capabilities,
    kinds: Mapping[str, tuple[str, Materialization]],
    check_target: object,
) -> str | None:
    for name in ("topic", "flink", *sorted(kinds)):
        if name == kind or name not in kinds:
            continue
        definition = kinds[name][1]
        if (definition.sql == "forbidden") != (model.sql is None):
            continue
        needs = definition.needs + (definition.needs_with_sql if model.sql else ())
        if all(n in capabilities for n in needs) and (
            definition.check is None or definition.check(check_target) is None
        ):
            return name
    return None
