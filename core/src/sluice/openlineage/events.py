"""OpenLineage run events for the jobs of a compiled project.

Naming follows the OpenLineage naming conventions (spec/Naming.md): a job's namespace names
the instance that runs it, so it is ``sluice://<project>`` (``sluice://<project>/<env>`` with an
environment, as Airflow instances are named ``airflow-staging``/``airflow-prod``) and its name is
the model's name; a Kafka topic is the dataset ``kafka://<first bootstrap server>`` / ``<topic>``.
Every model is a job (it runs a Flink job, a connector, a transform, a virtual topic, or owns a
topic); sources and exposures are datasets, never jobs.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from sluice.manifest import Manifest
from sluice.nodes import ColumnInfo, Node
from sluice.plugin.api import LineageEdge

PRODUCER = "https://github.com/sluice-data/sluice"
INTEGRATION = "SLUICE"
RUN_EVENT_SCHEMA = "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent"
_FACETS = "https://openlineage.io/spec/facets"
FACET_SCHEMAS = {
    "jobType": f"{_FACETS}/2-0-4/JobTypeJobFacet.json#/$defs/JobTypeJobFacet",
    "documentation": f"{_FACETS}/1-0-1/DocumentationJobFacet.json#/$defs/DocumentationJobFacet",
    "ownership": f"{_FACETS}/1-0-0/OwnershipJobFacet.json#/$defs/OwnershipJobFacet",
    "schema": f"{_FACETS}/1-0-0/SchemaDatasetFacet.json#/$defs/SchemaDatasetFacet",
    "columnLineage": (
        f"{_FACETS}/1-1-0/ColumnLineageDatasetFacet.json#/$defs/ColumnLineageDatasetFacet"
    ),
    "errorMessage": f"{_FACETS}/1-0-0/ErrorMessageRunFacet.json#/$defs/ErrorMessageRunFacet",
}
# where `sluice dev up` runs Kafka: the namespace of topics when runtime.kafka is not configured
FALLBACK_BOOTSTRAP = "localhost:9092"
# materialization -> the jobType facet's jobType; another kind is named in capitals
JOB_TYPES = {
    "flink": "FLINK_JOB",
    "sink": "CONNECTOR",
    "virtual_topic": "VIRTUAL_TOPIC",
    "transform": "TRANSFORM",
}

Event = dict[str, Any]


def event_time() -> str:
    """Now, as OpenLineage wants it: ISO-8601 in UTC."""
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def facet(name: str, **fields: Any) -> dict[str, Any]:
    return {"_producer": PRODUCER, "_schemaURL": FACET_SCHEMAS[name], **fields}


def error_facet(message: str) -> dict[str, Any]:
    """The ``errorMessage`` run facet of a failed step (``message`` already redacted)."""
    return facet("errorMessage", message=message, programmingLanguage="PYTHON")


def job_namespace(project: Any) -> str:
    base = f"sluice://{project.info.name}"
    return f"{base}/{project.env}" if project.env else base


def kafka_namespace(project: Any) -> str:
    servers = getattr(project.runtime.get("kafka"), "bootstrap_servers", None)
    first = servers.split(",")[0].strip() if servers else FALLBACK_BOOTSTRAP
    return f"kafka://{first}"


def external_dataset(uid: str) -> tuple[str, str]:
    """(namespace, name) of a dataset a plugin reports outside the project, e.g.
    ``webhook:https://hooks.example.com/orders`` -> ``https://hooks.example.com``, ``/orders``."""
    kind, _, rest = uid.partition(":")
    url = urlsplit(rest)
    if url.scheme and url.netloc:
        return f"{url.scheme}://{url.netloc}", url.path or "/"
    return (kind, rest) if rest else ("external", uid)


def runs_continuously(node: Node) -> bool:
    """Whether apply leaves something running for the model: every kind but a topic that the
    applications owning it write (a ``topic`` model without SQL)."""
    return not (node.materialized == "topic" and not node.sql)


def to_line(event: Event, redact: Callable[[str], str]) -> str:
    """One event as a line of NDJSON (keys sorted: the same project gives the same text)."""
    return redact(json.dumps(event, sort_keys=True, separators=(",", ":"), default=str))


@dataclass(frozen=True)
class Dataset:
    namespace: str
    name: str


class ProjectJobs:
    """The project's models as OpenLineage jobs, with the datasets they read and write.

    ``edges`` are the static lineage edges; those reaching outside the project (a plugin's
    external system, e.g. a webhook's URL) become datasets of their own.
    """

    def __init__(self, manifest: Manifest, edges: Iterable[LineageEdge] = ()) -> None:
        self.manifest = manifest
        self.namespace = job_namespace(manifest.project)
        self.kafka = kafka_namespace(manifest.project)
        self.external_in: dict[str, list[str]] = {}
        self.external_out: dict[str, list[str]] = {}
        for edge in edges:
            if edge.kind != "data":
                continue  # runtime facts (consumer groups) are not part of a job's definition
            if edge.source in manifest.nodes and edge.target not in manifest.nodes:
                self.external_out.setdefault(edge.source, []).append(edge.target)
            elif edge.target in manifest.nodes and edge.source not in manifest.nodes:
                self.external_in.setdefault(edge.target, []).append(edge.source)

    def job_ids(self, selected: Collection[str]) -> list[str]:
        """The selected models, in graph order."""
        nodes = self.manifest.nodes
        return [
            uid
            for uid in self.manifest.graph.topological_order()
            if uid in selected and nodes[uid].resource_type == "model"
        ]

    def stable_run_id(self, uid: str) -> str:
        """A runId that changes only with the job's definition (its SQL and compiled
        artifacts), so exporting an unchanged project twice names the same runs."""
        node = self.manifest.nodes[uid]
        definition = {
            "sql": node.sql,
            "artifacts": [
                [a.plugin, a.kind, a.name, a.spec] for a in self.manifest.artifacts.get(uid, ())
            ],
        }
        digest = hashlib.sha256(
            json.dumps(definition, sort_keys=True, default=str).encode("utf-8")
        ).hexdigest()
        return str(uuid.uuid5(uuid.NAMESPACE_URL, f"{self.namespace}/{node.name}#{digest}"))

    def event(
        self,
        uid: str,
        event_type: str,
        run_id: str,
        when: str,
        run_facets: Mapping[str, Any] | None = None,
    ) -> Event:
        """The run event of model ``uid``: its job facets, inputs and outputs."""
        node = self.manifest.nodes[uid]
        return _event(
            event_type,
            when,
            run_id,
            {"namespace": self.namespace, "name": node.name, "facets": self._job_facets(node)},
            self.inputs(uid),
            self.outputs(uid),
            run_facets,
        )

    def removed_job_event(
        self,
        name: str,
        kind: str,
        event_type: str,
        run_id: str,
        when: str,
        run_facets: Mapping[str, Any] | None = None,
    ) -> Event:
        """The run event of a job that left the project (``apply --prune`` removes it): only
        its name and kind are known, not its datasets."""
        facets = {
            "jobType": facet(
                "jobType", processingType="STREAMING", integration=INTEGRATION, jobType=kind.upper()
            )
        }
        job = {"namespace": self.namespace, "name": name, "facets": facets}
        return _event(event_type, when, run_id, job, [], [], run_facets)

    def inputs(self, uid: str) -> list[dict[str, Any]]:
        node = self.manifest.nodes[uid]
        found = []
        for parent in node.depends_on:
            dataset = self.dataset_of(parent)
            if dataset is not None:
                found.append(self._dataset_json(dataset, self.manifest.nodes[parent].columns))
        found += [
            self._dataset_json(Dataset(*external_dataset(e)), ())
            for e in self.external_in.get(uid, [])
        ]
        return found

    def outputs(self, uid: str) -> list[dict[str, Any]]:
        node = self.manifest.nodes[uid]
        found = []
        dataset = self.dataset_of(uid)
        if dataset is not None:
            data = self._dataset_json(dataset, node.columns)
            lineage = self._column_lineage(node)
            if lineage:
                data["facets"]["columnLineage"] = facet("columnLineage", fields=lineage)
            found.append(data)
        found += [
            self._dataset_json(Dataset(*external_dataset(e)), ())
            for e in self.external_out.get(uid, [])
        ]
        return found

    def dataset_of(self, uid: str) -> Dataset | None:
        """The topic a node's data can be read from, if it has one."""
        node = self.manifest.nodes.get(uid)
        if node is None or not node.topic:
            return None
        return Dataset(self.kafka, node.topic)

    def job_type(self, node: Node) -> str:
        kind = node.materialized or "model"
        if kind == "topic":
            if not node.sql:
                return "TOPIC"
            plugins = {a.plugin for a in self.manifest.artifacts.get(node.unique_id, ())}
            return "FLINK_JOB" if "flink" in plugins else "STREAM_JOB"
        return JOB_TYPES.get(kind, kind.upper())

    def _job_facets(self, node: Node) -> dict[str, Any]:
        facets = {
            "jobType": facet(
                "jobType",
                processingType="STREAMING",
                integration=INTEGRATION,
                jobType=self.job_type(node),
            )
        }
        description = getattr(node.spec, "description", None)
        if description:
            facets["documentation"] = facet("documentation", description=description)
        owner = getattr(node.spec, "owner", None)
        if owner:
            facets["ownership"] = facet("ownership", owners=[{"name": owner}])
        return facets

    def _dataset_json(self, dataset: Dataset, columns: Sequence[ColumnInfo]) -> dict[str, Any]:
        facets: dict[str, Any] = {}
        if columns:
            facets["schema"] = facet("schema", fields=[_field(c) for c in columns])
        return {"namespace": dataset.namespace, "name": dataset.name, "facets": facets}

    def _column_lineage(self, node: Node) -> dict[str, Any]:
        """Output column -> the input columns it is computed from, as far as the SQL analysis
        could trace them (the same mapping ``sluice lineage --columns`` shows)."""
        fields: dict[str, Any] = {}
        for column in node.columns:
            inputs = []
            for ref in column.lineage:
                parent = next((p for p in node.depends_on if ref.startswith(p + ".")), None)
                dataset = self.dataset_of(parent) if parent else None
                if parent is not None and dataset is not None:
                    inputs.append(
                        {
                            "namespace": dataset.namespace,
                            "name": dataset.name,
                            "field": ref[len(parent) + 1 :],
                        }
                    )
            if inputs:
                fields[column.name] = {"inputFields": inputs}
        return fields


def _field(column: ColumnInfo) -> dict[str, str]:
    data = {"name": column.name}
    if column.type:
        data["type"] = column.type
    if column.description:
        data["description"] = column.description
    return data


def _event(
    event_type: str,
    when: str,
    run_id: str,
    job: dict[str, Any],
    inputs: list[dict[str, Any]],
    outputs: list[dict[str, Any]],
    run_facets: Mapping[str, Any] | None,
) -> Event:
    run: dict[str, Any] = {"runId": run_id}
    if run_facets:
        run["facets"] = dict(run_facets)
    return {
        "eventType": event_type,
        "eventTime": when,
        "producer": PRODUCER,
        "schemaURL": RUN_EVENT_SCHEMA,
        "run": run,
        "job": job,
        "inputs": inputs,
        "outputs": outputs,
    }


def export_events(
    manifest: Manifest, edges: Iterable[LineageEdge], selected: Collection[str]
) -> list[Event]:
    """One START event per selected model, with a stable runId (see ``stable_run_id``): the
    project's jobs as they are defined, for a receiver that has not seen them run."""
    jobs = ProjectJobs(manifest, edges)
    when = event_time()
    return [
        jobs.event(uid, "START", jobs.stable_run_id(uid), when) for uid in jobs.job_ids(selected)
    ]
