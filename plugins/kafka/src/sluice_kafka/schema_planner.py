"""Planning registry subjects: register a model's schema, set its compatibility level.

A changed schema is checked before apply: the registry says whether it may follow the latest
version (at the subject's level), and :func:`~sluice_kafka.schemas.incompatible_fields` says
which field breaks it, since registries do not always tell (Apicurio answers a bare
``is_compatible: false``). A source's subject is never written, only compared with the
declared columns (:func:`source_mismatches`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from sluice.errors import Location, PlanError
from sluice.plugin.api import Artifact, Change
from sluice_kafka.registry import Registered, Verdict
from sluice_kafka.schemas import (
    FieldShape,
    Incompatibility,
    field_from_messages,
    field_shapes,
    incompatible_fields,
    reader_problems,
    same_schema,
    schema_text,
)
from sluice_kafka.state import Record, spec_hash

PLUGIN = "kafka"
STORAGE = 0  # schemas go with topics: before the jobs that write them
# what Confluent and Apicurio assume for a subject without a level of its own
REGISTRY_DEFAULT = "BACKWARD"

Checker = Callable[[str, str, str], Verdict]  # (subject, schema text, schema type) -> verdict


@dataclass(frozen=True)
class LiveSubject:
    latest: Registered | None
    compatibility: str | None  # the level the registry applies to the subject


def plan_schema(
    artifact: Artifact,
    live: LiveSubject,
    record: Record | None,
    check: Checker,
    node: str | None,
    owner_name: str | None = None,
    location: Location | None = None,
) -> Change | None:
    """Create (first version), update (new version and/or level) or nothing for a subject."""
    spec = artifact.spec
    subject, schema_type, level = spec["subject"], spec["schemaType"], spec.get("compatibility")
    latest = live.latest
    payload: dict[str, Any] = {"spec": dict(spec), "register": True, "compatibility": level}
    if latest is None:
        diff: dict[str, tuple[Any, Any]] = {"version": (None, 1)}
        diff |= _field_diff({}, field_shapes(spec["schema"], schema_type))
        if level:
            diff["compatibility"] = (None, level)
        return Change(
            PLUGIN, "create", "schema", subject, node, diff=diff, payload=payload, stage=STORAGE
        )
    register = latest.schema_type != schema_type or not same_schema(spec["schema"], latest.schema)
    set_level = level is not None and level != live.compatibility
    diff = {}
    if register:
        try:
            _check_compatible(artifact, latest, live, check, owner_name)
        except PlanError as exc:
            exc.location = location
            raise
        diff["version"] = (latest.version, latest.version + 1)
        diff |= _field_diff(
            field_shapes(latest.schema, latest.schema_type),
            field_shapes(spec["schema"], schema_type),
        )
    if set_level:
        diff["compatibility"] = (live.compatibility, level)
    payload = {
        "spec": dict(spec),
        "register": register,
        "compatibility": level if set_level else None,
    }
    reason = None
    if not diff:
        if record is not None and record.spec_hash == spec_hash(spec):
            return None
        reason = (
            "registered but sluice has no record of it: apply records it as managed"
            if record is None
            else "matches the registry; apply updates sluice's record of it"
        )
    return Change(
        PLUGIN,
        "update",
        "schema",
        subject,
        node,
        diff=diff,
        reason=reason,
        payload=payload,
        stage=STORAGE,
    )


def _check_compatible(
    artifact: Artifact,
    latest: Registered,
    live: LiveSubject,
    check: Checker,
    owner_name: str | None,
) -> None:
    """A PlanError naming the subject and the field when the new schema breaks the level.

    When the project also changes the level, apply sets it first: the new level decides, and
    only sluice's own reading of the fields can judge that before apply.
    """
    spec = artifact.spec
    level = spec.get("compatibility")
    subject, schema_type = spec["subject"], spec["schemaType"]
    old_is = f"version {latest.version}"
    if level and level != live.compatibility:
        problems = incompatible_fields(spec["schema"], latest.schema, schema_type, level, old_is)
        if problems:
            raise _incompatible(subject, level, latest.version, problems[0], owner_name)
        return
    verdict = check(subject, schema_text(spec["schema"]), schema_type)
    if verdict.compatible:
        return
    effective = live.compatibility or REGISTRY_DEFAULT
    problems = incompatible_fields(spec["schema"], latest.schema, schema_type, effective, old_is)
    named = field_from_messages(verdict.messages, spec["schema"])
    if named is not None:
        reason = next((p.reason for p in problems if p.field == named), "; ".join(verdict.messages))
        problem = Incompatibility(named, reason)
    elif problems:
        problem = problems[0]
    else:
        problem = Incompatibility("", "; ".join(verdict.messages) or "the registry refused it")
    raise _incompatible(subject, effective, latest.version, problem, owner_name)


def _incompatible(
    subject: str, level: str, version: int, problem: Incompatibility, owner_name: str | None
) -> PlanError:
    model = f" (model '{owner_name}')" if owner_name else ""
    what = f"field '{problem.field}': {problem.reason}" if problem.field else problem.reason
    return PlanError(
        f"schema subject '{subject}'{model}: the new schema is not {level} compatible with "
        f"{'version ' + str(version)}: {what}",
        hint=f"the subject's compatibility level is {level}: make the change compatible (add "
        "columns as nullable, keep the fields readers need), or set the model's "
        "schema: { compatibility: ... } to a level that allows it (NONE lets consumers break), "
        "or write to a new topic",
    )


def _field_diff(
    old: Mapping[str, FieldShape], new: Mapping[str, FieldShape]
) -> dict[str, tuple[Any, Any]]:
    diff: dict[str, tuple[Any, Any]] = {}
    for name in [*old, *(n for n in new if n not in old)]:
        was, now = old.get(name), new.get(name)
        if was != now:
            diff[f"fields.{name}"] = (_shape_label(was), _shape_label(now))
    return diff


def _shape_label(shape: FieldShape | None) -> str | None:
    if shape is None:
        return None
    return f"{shape.type}{' (nullable)' if shape.nullable else ''}"


def source_mismatches(artifact: Artifact, latest: Registered | None) -> list[str]:
    """Why the registry's subject does not fit the declared columns (empty when it does)."""
    spec = artifact.spec
    subject = spec["subject"]
    if latest is None:
        return [f"subject '{subject}' does not exist in the registry"]
    if latest.schema_type != spec["schemaType"]:
        return [
            f"subject '{subject}' holds a {latest.schema_type} schema, "
            f"not {spec['schemaType']} as the format says"
        ]
    declared = field_shapes(spec["schema"], spec["schemaType"])
    registered = field_shapes(latest.schema, latest.schema_type)
    problems = reader_problems(
        declared, registered, "the declared columns", f"version {latest.version}", strict=True
    )
    return [f"subject '{subject}': field '{p.field}': {p.reason}" for p in problems]
