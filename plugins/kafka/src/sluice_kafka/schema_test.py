"""``type: schema`` tests: the registry's subjects of a node match its declared columns.

A test passes when each subject of the tested source or model exists and its latest version
can be read with the declared columns: every declared column is a field there, of a type it can
be read as, and never null where the column is NOT NULL. For a model (whose schema sluice
registers) the registry must also accept the declared schema at the subject's level.
"""

from __future__ import annotations

from sluice.errors import SluiceError
from sluice.nodes import Node
from sluice.plugin.api import Artifact, TestResult
from sluice.runtime import RunContext
from sluice_kafka.config import SchemaRegistryConfig
from sluice_kafka.registry import RegistryClient
from sluice_kafka.schema_planner import source_mismatches
from sluice_kafka.schemas import field_from_messages, incompatible_fields, same_schema, schema_text

TEST_TYPE = "schema"
SUBJECT_KINDS = ("schema", "source_schema")
IN_MESSAGE = 3  # mismatches named in the message


def run(test: Node, context: RunContext) -> TestResult | None:
    """The result of one schema test, or None when this plugin does not run it."""
    if getattr(test.spec, "type", None) != TEST_TYPE:
        return None
    registry = context.runtime.get("schema_registry")
    if not isinstance(registry, SchemaRegistryConfig):
        return None
    uid = test.unique_id
    node = context.manifest.nodes.get(test.depends_on[0]) if test.depends_on else None
    artifacts = [
        a
        for a in (context.manifest.artifacts.get(node.unique_id, ()) if node else ())
        if a.plugin == "kafka" and a.kind in SUBJECT_KINDS
    ]
    if node is None or not artifacts:
        what = f"'{node.name}'" if node is not None else "its model"
        return TestResult(
            uid,
            "error",
            f"{what} has no registry subject to test: schema tests need format avro or json "
            "and typed columns (or a schema: {file: ...})",
        )
    client = RegistryClient(registry)
    try:
        problems = [p for a in artifacts for p in subject_problems(a, client)]
    except SluiceError as exc:
        return TestResult(uid, "error", exc.render())
    finally:
        client.close()
    subjects = ", ".join(a.name for a in artifacts)
    if not problems:
        return TestResult(uid, "pass", f"{subjects} match the declared columns")
    shown = "; ".join(problems[:IN_MESSAGE])
    more = f" (and {len(problems) - IN_MESSAGE} more)" if len(problems) > IN_MESSAGE else ""
    return TestResult(
        uid,
        "fail",
        f"{shown}{more}",
        failures=len(problems),
        details=[{"problem": p} for p in problems],
    )


def subject_problems(artifact: Artifact, client: RegistryClient) -> list[str]:
    """What does not match between one subject and the schema the project declares."""
    latest = client.latest(artifact.name)
    problems = source_mismatches(artifact, latest)
    spec = artifact.spec
    if problems or latest is None or artifact.kind != "schema":
        return problems
    if same_schema(spec["schema"], latest.schema):
        return []
    verdict = client.check(artifact.name, schema_text(spec["schema"]), spec["schemaType"])
    if verdict.compatible:
        return []
    level = client.compatibility(artifact.name) or "BACKWARD"
    named = field_from_messages(verdict.messages, spec["schema"])
    found = incompatible_fields(
        spec["schema"], latest.schema, spec["schemaType"], level, f"version {latest.version}"
    )
    field = named or (found[0].field if found else None)
    reason = next((p.reason for p in found if p.field == field), "; ".join(verdict.messages))
    where = f"field '{field}': " if field else ""
    return [
        f"subject '{artifact.name}': the declared schema is not {level} compatible with "
        f"version {latest.version}: {where}{reason or 'the registry refused it'}"
    ]
