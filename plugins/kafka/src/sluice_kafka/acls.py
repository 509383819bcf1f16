"""ACL bindings: what ``access:`` grants, and what sluice's own jobs and connectors need.

Each node gets at most one ``acls`` artifact, named after its topic (a sink, which has none,
``sink:<name>``; topic names cannot hold a colon). Its spec names the node, so a binding set
whose node still exists but grants nothing any more is revoked on a plain apply rather than
held back as an orphan. A binding may be wanted by several artifacts (a reader's group prefix,
the jobs' group prefix): the planner treats the bindings of the whole project as one set.

- a reader: READ and DESCRIBE on the topic, READ on the consumer groups under its prefix
  (``group_prefixes``, else the principal's name and a dot: ``User:fraud-svc`` -> ``fraud-svc.``);
- a writer: WRITE and DESCRIBE on the topic (idempotent producers need nothing on the cluster
  since Kafka 3.0);
- sluice's principal (``runtime.kafka``), when ``own_acls`` says so: READ and DESCRIBE on what
  its jobs (models' and continuous tests') and sink connectors read, WRITE and DESCRIBE on what
  its jobs and source connectors write (and a sink's dead letter topic), READ on the jobs'
  groups ``sluice.<project>.*`` and on a sink's ``connect-<project>-<name>``, WRITE and
  DESCRIBE on the transactional ids ``sluice.<project>.*`` of exactly-once jobs.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from sluice.compiler import CompileContext
from sluice.naming import connector_group, job_prefix
from sluice.nodes import Node
from sluice.plugin.api import Artifact
from sluice.project import Project
from sluice.project.schema import Access
from sluice_kafka.config import KafkaConfig

PLUGIN = "kafka"
GROUP_SEPARATOR = "."
READ = ("READ", "DESCRIBE")
WRITE = ("WRITE", "DESCRIBE")


@dataclass(frozen=True, order=True)
class Binding:
    """One ACL binding as a hashable value: the 7-tuple Kafka stores."""

    resource_type: str
    resource_name: str
    pattern_type: str
    principal: str
    host: str
    operation: str
    permission: str

    @classmethod
    def from_spec(cls, spec: Mapping[str, str]) -> Binding:
        return cls(
            spec["resource_type"],
            spec["resource_name"],
            spec["pattern_type"],
            spec["principal"],
            spec["host"],
            spec["operation"],
            spec["permission"],
        )

    def to_spec(self) -> dict[str, str]:
        return {
            "resource_type": self.resource_type,
            "resource_name": self.resource_name,
            "pattern_type": self.pattern_type,
            "principal": self.principal,
            "host": self.host,
            "operation": self.operation,
            "permission": self.permission,
        }

    def label(self) -> str:
        """``User:alice READ topic orders``; a prefix ends in ``*`` (``group alice.*``)."""
        star = "*" if self.pattern_type == "PREFIXED" else ""
        resource = f"{self.resource_type.lower()} {self.resource_name}{star}"
        verb = "" if self.permission == "ALLOW" else f" {self.permission}"
        return f"{self.principal} {self.operation}{verb} {resource}"


def acl_artifact(node: Node, context: CompileContext) -> Artifact | None:
    """The bindings ``node`` needs, or None when it needs none."""
    name = _artifact_name(node)
    if name is None:
        return None
    access = getattr(node.spec, "access", None)
    wanted = access_bindings(node.topic or "", access) if access and node.topic else set()
    principal = own_principal(context)
    if principal is not None:
        wanted |= own_bindings(node, context, principal)
    if not wanted:
        return None
    spec = {"node": node.unique_id, "bindings": [b.to_spec() for b in sorted(wanted)]}
    return Artifact(PLUGIN, "acls", name, spec, file="acls.json")


def _artifact_name(node: Node) -> str | None:
    if node.resource_type == "source" and node.topic:
        return node.topic
    if node.resource_type in ("model", "test") and node.real_topic and node.topic:
        return node.topic
    if _is_connect_sink(node):
        return f"sink:{node.name}"
    return None


# -- access: ----------------------------------------------------------------------------------


def access_bindings(topic: str, access: Access) -> set[Binding]:
    """The bindings ``access:`` declares for ``topic``."""
    wanted = {_allow("TOPIC", topic, p, op) for p in access.read for op in READ}
    wanted |= {_allow("TOPIC", topic, p, op) for p in access.write for op in WRITE}
    wanted |= {
        _allow("GROUP", group_prefix(p, access), p, "READ", prefixed=True) for p in access.read
    }
    return wanted


def group_prefix(principal: str, access: Access) -> str:
    """The consumer groups a reader may use: the prefix it was given, else its name and a dot."""
    given = access.group_prefixes.get(principal)
    if given:
        return given
    return principal.partition(":")[2] + GROUP_SEPARATOR


# -- sluice's own principal -------------------------------------------------------------------


def own_principal(context: CompileContext) -> str | None:
    """sluice's principal when ``own_acls`` asks for its bindings in this project, else None."""
    kafka = context.runtime.get("kafka")
    if not isinstance(kafka, KafkaConfig) or kafka.own_principal is None:
        return None
    if kafka.own_acls == "never":
        return None
    if kafka.own_acls == "auto" and not declares_access(context.project):
        return None  # a cluster nobody asked to secure gets no surprise bindings
    return kafka.own_principal


def own_bindings(node: Node, context: CompileContext, principal: str) -> set[Binding]:
    """What ``node``'s job or connector needs, granted to ``principal``."""
    project = context.project.info.name
    if _is_job(node):
        jobs = job_prefix(project)  # the group id and transactional id prefix of every job
        wanted = _on_topics([node.topic or ""], principal, WRITE)
        wanted |= _on_topics(_upstream_topics(node, context), principal, READ)
        wanted.add(_allow("GROUP", jobs, principal, "READ", prefixed=True))
        wanted |= {_allow("TRANSACTIONAL_ID", jobs, principal, op, prefixed=True) for op in WRITE}
        return wanted
    if _is_connect_sink(node):
        # Kafka Connect's default group of a sink: connect-<connector name>
        group = connector_group(project, node.name)
        wanted = _on_topics(_upstream_topics(node, context), principal, READ)
        wanted.add(_allow("GROUP", group, principal, "READ"))
        dlq = getattr(node.spec.extensions.get("dlq"), "topic", None)
        if isinstance(dlq, str):
            wanted |= _on_topics([dlq], principal, WRITE)
        return wanted
    if node.resource_type == "source" and "connector" in node.spec.extensions and node.topic:
        return _on_topics([node.topic], principal, WRITE)
    return set()


def _is_job(node: Node) -> bool:
    """A model whose SQL a stream job runs into a topic on the brokers, or a continuous test
    (a job writing its violations to a topic)."""
    if not (node.real_topic and node.topic):
        return False
    return node.resource_type == "test" or (node.resource_type == "model" and bool(node.sql))


def _is_connect_sink(node: Node) -> bool:
    return (
        node.resource_type == "model"
        and node.materialized == "sink"
        and "connector" in node.spec.extensions
    )


def _upstream_topics(node: Node, context: CompileContext) -> list[str]:
    return [up.topic for up in context.upstream(node) if up.topic and up.real_topic]


def _on_topics(topics: Iterable[str], principal: str, operations: tuple[str, ...]) -> set[Binding]:
    return {_allow("TOPIC", topic, principal, op) for topic in topics for op in operations}


def _allow(
    resource_type: str, name: str, principal: str, operation: str, prefixed: bool = False
) -> Binding:
    pattern = "PREFIXED" if prefixed else "LITERAL"
    return Binding(resource_type, name, pattern, principal, "*", operation, "ALLOW")


# the project last asked about and its answer: compile asks once per node, one project at a time
_last: tuple[Project, bool] | None = None


def declares_access(project: Project) -> bool:
    """Whether any source or model of ``project`` declares ``access:``."""
    global _last
    if _last is None or _last[0] is not project:
        accesses = [n.access for n in project.sources.values()]
        accesses += [n.access for n in project.models.values()]
        _last = (project, any(a.read or a.write for a in accesses))
    return _last[1]
