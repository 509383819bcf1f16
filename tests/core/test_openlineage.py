"""OpenLineage: `sluice lineage --format openlineage` and `sluice apply --openlineage-url`.

Every event is checked against the published OpenLineage schemas kept in
``openlineage_schemas/`` (offline: a registry resolves every ``$ref``), and every facet against
the facet schema its ``_schemaURL`` names. Receivers are real HTTP servers on localhost.
"""

from __future__ import annotations

import json
import shutil
import socket
import threading
import uuid
from collections.abc import Iterator
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from urllib.parse import urlsplit

import pytest
import stream_plugin
from jsonschema import Draft202012Validator
from referencing import Registry, Resource

from sluice.engine import Plan, apply_plan
from sluice.openlineage.apply_events import ApplyLineage
from sluice.openlineage.events import FACET_SCHEMAS, ProjectJobs
from sluice.openlineage.receiver import lineage_endpoint
from sluice.plugin.api import ApplyResult, Change
from sluice.session import Session
from sluice.testing import SluiceProject

SCHEMAS = Path(__file__).parent / "openlineage_schemas"
EXAMPLE = Path(__file__).parents[2] / "examples" / "card-payments"
CORE_ID = "https://openlineage.io/spec/2-0-2/OpenLineage.json"
# the 1-0-0 facets $ref the core of their time; RunFacet, JobFacet and DatasetFacet are "a
# BaseFacet" in every core version, so those URLs resolve to the 2-0-2 core (see the README)
OLDER_CORES = (
    "https://openlineage.io/spec/1-0-2/OpenLineage.json",
    "https://openlineage.io/spec/1-0-3/OpenLineage.json",
)
WEBHOOK_ONLY = {"SLUICE_DISABLE_PLUGINS": "kafka,flink,connect,conduktor,redpanda"}


# -- validation against the published schemas --------------------------------------------------


def _registry() -> tuple[Registry, dict[str, Any]]:
    registry: Registry = Registry()
    contents = {}
    for path in sorted(SCHEMAS.rglob("*.json")):
        schema = json.loads(path.read_text(encoding="utf-8"))
        contents[schema["$id"]] = schema
        registry = registry.with_resource(schema["$id"], Resource.from_contents(schema))
    core = Resource.from_contents(contents[CORE_ID])
    registry = registry.with_resources((uri, core) for uri in OLDER_CORES)
    return registry.crawl(), contents


REGISTRY, SCHEMA_FILES = _registry()
EVENT_VALIDATOR = Draft202012Validator(SCHEMA_FILES[CORE_ID], registry=REGISTRY)


def facets_of(event: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    yield from event["run"].get("facets", {}).items()
    yield from event["job"].get("facets", {}).items()
    for dataset in event.get("inputs", []) + event.get("outputs", []):
        yield from dataset.get("facets", {}).items()
        yield from dataset.get("inputFacets", {}).items()
        yield from dataset.get("outputFacets", {}).items()


def assert_valid(event: dict[str, Any]) -> None:
    """The event is an OpenLineage 2-0-2 RunEvent and each facet matches its own schema."""
    errors = [f"{list(e.absolute_path)}: {e.message}" for e in EVENT_VALIDATOR.iter_errors(event)]
    assert not errors, errors
    # formats the validator leaves to optional packages, checked here
    assert datetime.fromisoformat(event["eventTime"]).utcoffset() is not None
    uuid.UUID(event["run"]["runId"])
    for uri in (event["producer"], event["schemaURL"]):
        assert urlsplit(uri).scheme == "https" and urlsplit(uri).netloc, uri
    for name, facet in facets_of(event):
        schema_url = facet["_schemaURL"]
        assert schema_url.split("#")[0] in SCHEMA_FILES, f"facet {name}: unknown {schema_url}"
        assert schema_url == FACET_SCHEMAS[name]
        validator = Draft202012Validator({"$ref": schema_url}, registry=REGISTRY)
        errors = [e.message for e in validator.iter_errors(facet)]
        assert not errors, (name, errors)


def test_the_validation_itself_rejects_a_facet_that_breaks_its_schema() -> None:
    event = {
        "eventType": "START",
        "eventTime": "2026-11-26T05:00:00.000Z",
        "producer": "https://github.com/sluice-data/sluice",
        "schemaURL": "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent",
        "run": {"runId": str(uuid.uuid4())},
        "job": {
            "namespace": "sluice://x",
            "name": "a",
            "facets": {
                "jobType": {
                    "_producer": "https://github.com/sluice-data/sluice",
                    "_schemaURL": FACET_SCHEMAS["jobType"],
                    "jobType": "FLINK_JOB",  # processingType and integration are required
                }
            },
        },
    }
    with pytest.raises(AssertionError, match="processingType"):
        assert_valid(event)


# -- the export ----------------------------------------------------------------------------------


@pytest.fixture
def card_payments(tmp_path: Path) -> SluiceProject:
    """A copy of the example project (its target/ stays out of the repository)."""
    path = tmp_path / "card-payments"
    shutil.copytree(EXAMPLE, path, ignore=shutil.ignore_patterns("target", ".sluice"))
    return SluiceProject(path)


EXAMPLE_ENV = {"KAFKA_BOOTSTRAP": "broker-1.example.com:9093,broker-2.example.com:9093"}


def export(project: SluiceProject, *args: str, env: dict[str, str] | None = None) -> list[Any]:
    result = project.run("lineage", "--format", "openlineage", *args, env=env or EXAMPLE_ENV)
    assert result.exit_code == 0, result.output
    return [json.loads(line) for line in result.stdout.splitlines()]


def by_job(events: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {e["job"]["name"]: e for e in events}


def test_the_example_projects_export_is_valid_openlineage_with_one_event_per_model(card_payments):
    events = export(card_payments)

    assert [e["job"]["name"] for e in events] == [
        "card_activity",
        "payments_clean",
        "large_payments",
        "merchant_minute_totals",
        "payments_enriched",
        "payments_to_ledger",
    ]  # the models in graph order; sources and exposures are datasets, not jobs
    for event in events:
        assert_valid(event)
        assert event["eventType"] == "START"
        assert event["job"]["namespace"] == "sluice://card-payments"
    job_types = {
        name: e["job"]["facets"]["jobType"]["jobType"] for name, e in by_job(events).items()
    }
    assert job_types == {
        "card_activity": "FLINK_JOB",
        "payments_clean": "FLINK_JOB",  # a topic model with SQL, run by Flink
        "large_payments": "FLINK_JOB",
        "merchant_minute_totals": "FLINK_JOB",
        "payments_enriched": "FLINK_JOB",
        "payments_to_ledger": "CONNECTOR",
    }
    ledger = by_job(events)["payments_to_ledger"]
    assert ledger["job"]["facets"]["documentation"]["description"] == (
        "Clean payments in the ledger database"
    )
    assert ledger["job"]["facets"]["ownership"]["owners"] == [{"name": "payments-team"}]
    assert ledger["job"]["facets"]["jobType"]["processingType"] == "STREAMING"
    assert ledger["job"]["facets"]["jobType"]["integration"] == "SLUICE"


def test_datasets_are_topics_named_after_the_first_bootstrap_server(card_payments):
    events = by_job(export(card_payments))

    enriched = events["payments_enriched"]
    assert sorted((d["namespace"], d["name"]) for d in enriched["inputs"]) == [
        ("kafka://broker-1.example.com:9093", "merchants.v1"),
        ("kafka://broker-1.example.com:9093", "payments_clean"),
    ]
    assert [(d["namespace"], d["name"]) for d in enriched["outputs"]] == [
        ("kafka://broker-1.example.com:9093", "payments_enriched")
    ]
    clean = events["payments_clean"]
    assert clean["inputs"][0]["name"] == "payments.raw.v1"
    schema = clean["inputs"][0]["facets"]["schema"]["fields"]
    assert schema[0] == {
        "name": "payment_id",
        "type": "STRING",
        "description": "Unique id of the authorisation",
    }
    assert {"name": "amount", "type": "DECIMAL(12,2)"} in schema
    # a sink writes to a system outside Kafka that sluice cannot name: no output dataset
    assert events["payments_to_ledger"]["outputs"] == []


def test_column_lineage_says_which_input_columns_an_output_column_comes_from(card_payments):
    events = by_job(export(card_payments))

    totals = events["merchant_minute_totals"]["outputs"][0]["facets"]["columnLineage"]["fields"]
    source = {"namespace": "kafka://broker-1.example.com:9093", "name": "payments_clean"}
    assert totals["total_amount"] == {"inputFields": [{**source, "field": "amount"}]}
    assert totals["window_start"] == {"inputFields": [{**source, "field": "ts"}]}
    assert "payments" not in totals  # COUNT(*) reads no column
    enriched = events["payments_enriched"]["outputs"][0]["facets"]["columnLineage"]["fields"]
    assert enriched["risk_level"] == {
        "inputFields": [
            {
                "namespace": "kafka://broker-1.example.com:9093",
                "name": "merchants.v1",
                "field": "risk_level",
            }
        ]
    }


def test_two_exports_of_the_same_project_differ_only_in_event_time(card_payments):
    first = export(card_payments)
    second = export(card_payments)

    for event in first + second:
        event.pop("eventTime")
    assert first == second
    assert len({e["run"]["runId"] for e in first}) == len(first)


def test_a_changed_model_gets_a_new_run_id_and_the_others_keep_theirs(card_payments):
    before = {name: e["run"]["runId"] for name, e in by_job(export(card_payments)).items()}
    models = card_payments.path / "models" / "fraud" / "fraud.yml"
    models.write_text(models.read_text().replace("INTERVAL '1' MINUTE", "INTERVAL '5' MINUTE"))

    after = {name: e["run"]["runId"] for name, e in by_job(export(card_payments)).items()}

    changed = {name for name in before if before[name] != after[name]}
    assert changed == {"merchant_minute_totals"}


def test_the_selection_chooses_the_jobs_and_an_environment_names_the_namespace(card_payments):
    events = export(card_payments, "--select", "tag:fraud", "--env", "prod")

    assert sorted(e["job"]["name"] for e in events) == [
        "card_activity",
        "large_payments",
        "merchant_minute_totals",
    ]
    assert {e["job"]["namespace"] for e in events} == {"sluice://card-payments/prod"}


def shop(registry: Path) -> dict[str, str]:
    return {
        "stream_project.yml": f"""
            project:
              name: shop
            runtime:
              webhook:
                registry_dir: {registry}
            sources:
              - name: orders
                topic: orders.v1
                columns:
                  - {{ name: id, type: STRING }}
                  - {{ name: amount, type: DOUBLE }}
            models:
              - name: orders_hook
                description: Orders to the shop's hook
                materialized: webhook
                from: orders
                webhook:
                  url: https://hooks.example.com/orders
            """,
    }


def test_without_runtime_kafka_topics_fall_back_to_the_dev_stacks_broker(sluice_project, tmp_path):
    project = sluice_project(shop(tmp_path))

    (event,) = export(project, env=WEBHOOK_ONLY)

    assert_valid(event)
    assert [(d["namespace"], d["name"]) for d in event["inputs"]] == [
        ("kafka://localhost:9092", "orders.v1")
    ]
    # what a plugin reports outside the project is a dataset too
    assert [(d["namespace"], d["name"]) for d in event["outputs"]] == [
        ("https://hooks.example.com", "/orders")
    ]
    assert event["job"]["facets"]["jobType"]["jobType"] == "WEBHOOK"


# -- a receiver ----------------------------------------------------------------------------------


class Receiver:
    """A real HTTP server on localhost that records what is posted to it."""

    def __init__(self, status: int = 200) -> None:
        received: list[tuple[str, dict[str, str], Any]] = []
        self.received = received

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                received.append((self.path, dict(self.headers), json.loads(body)))
                self.send_response(status)
                self.end_headers()
                self.wfile.write(b'{"error": "no"}' if status >= 300 else b"")

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def events(self) -> list[dict[str, Any]]:
        return [body for _, _, body in self.received]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver()
    yield server
    server.close()


def dead_url() -> str:
    """A localhost URL where nothing listens."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def test_lineage_posts_each_event_to_the_receivers_lineage_endpoint(card_payments, receiver):
    env = {**EXAMPLE_ENV, "OPENLINEAGE_API_KEY": "s3cr3t-api-key"}

    result = card_payments.run("lineage", "--openlineage-url", receiver.url, env=env)

    assert result.exit_code == 0, result.output
    assert result.stdout == (
        f"sent 6 OpenLineage events to {receiver.url}/api/v1/lineage\n"
    )  # the events go to the receiver, not to stdout
    assert "s3cr3t-api-key" not in result.output
    assert [path for path, _, _ in receiver.received] == ["/api/v1/lineage"] * 6
    for _, headers, event in receiver.received:
        assert headers["Authorization"] == "Bearer s3cr3t-api-key"
        assert headers["Content-Type"] == "application/json"
        assert_valid(event)
    assert [e["job"]["name"] for e in receiver.events][:3] == [
        "card_activity",
        "payments_clean",
        "large_payments",
    ]


def test_a_url_that_already_names_the_endpoint_is_taken_as_it_is() -> None:
    assert lineage_endpoint("http://marquez:5000") == "http://marquez:5000/api/v1/lineage"
    assert lineage_endpoint("http://marquez:5000/") == "http://marquez:5000/api/v1/lineage"
    assert lineage_endpoint("https://ol.example.com/api/v1/lineage") == (
        "https://ol.example.com/api/v1/lineage"
    )
    assert lineage_endpoint("https://example.com/ol/") == "https://example.com/ol/api/v1/lineage"


BAD_URL = (
    "error: the OpenLineage URL 'notaurl' is not an http(s) URL\n"
    "  hint: give the receiver's base URL, e.g. --openlineage-url http://localhost:5000 "
    "(events go to <url>/api/v1/lineage)\n"
)


def test_a_bad_url_is_a_clear_error_without_a_traceback(card_payments):
    result = card_payments.run("lineage", "--openlineage-url", "notaurl", env=EXAMPLE_ENV)

    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr == BAD_URL


def test_another_format_with_a_url_is_refused(card_payments, receiver):
    result = card_payments.run(
        "lineage", "--format", "dot", "--openlineage-url", receiver.url, env=EXAMPLE_ENV
    )

    assert result.exit_code == 1
    assert result.stderr == (
        "error: --openlineage-url sends OpenLineage events, not the dot format\n"
        "  hint: leave out --format, or pass --format openlineage\n"
    )
    assert receiver.received == []


def test_an_export_to_a_receiver_that_is_down_fails_and_says_where(card_payments):
    url = dead_url()

    result = card_payments.run("lineage", "--openlineage-url", url, env=EXAMPLE_ENV)

    assert result.exit_code == 1
    assert result.stderr.startswith(
        f"error: could not reach the OpenLineage receiver at {url}/api/v1/lineage: "
    )
    assert result.stderr.endswith("  hint: check that the receiver runs and the URL is right\n")
    assert "Traceback" not in result.output


def test_a_receiver_refusing_an_event_fails_the_export_with_its_answer(card_payments):
    refusing = Receiver(status=401)
    try:
        result = card_payments.run("lineage", "--openlineage-url", refusing.url, env=EXAMPLE_ENV)
    finally:
        refusing.close()

    assert result.exit_code == 1
    assert result.stderr == (
        f"error: the OpenLineage receiver at {refusing.url}/api/v1/lineage answered 401: "
        '{"error": "no"}\n'
        "  hint: a 401/403 means a missing or wrong token in OPENLINEAGE_API_KEY\n"
    )


# -- apply ---------------------------------------------------------------------------------------


def test_apply_sends_start_then_running_for_a_job_it_deploys(sluice_project, tmp_path, receiver):
    registry = tmp_path / "registry"
    registry.mkdir()
    project = sluice_project(shop(registry))

    result = project.run("apply", "--openlineage-url", receiver.url, env=WEBHOOK_ONLY)

    assert result.exit_code == 0, result.output
    assert (registry / "orders_hook.webhook.json").is_file()
    assert [(e["eventType"], e["job"]["name"]) for e in receiver.events] == [
        ("START", "orders_hook"),
        ("RUNNING", "orders_hook"),
    ]
    start, running = receiver.events
    assert start["run"]["runId"] == running["run"]["runId"]
    assert start["job"]["namespace"] == "sluice://shop"
    for event in receiver.events:
        assert_valid(event)


def test_apply_takes_the_receiver_from_openlineage_url(sluice_project, tmp_path, receiver):
    registry = tmp_path / "registry"
    registry.mkdir()
    project = sluice_project(shop(registry))

    result = project.run("apply", env={**WEBHOOK_ONLY, "OPENLINEAGE_URL": receiver.url})

    assert result.exit_code == 0, result.output
    assert [e["eventType"] for e in receiver.events] == ["START", "RUNNING"]


def test_a_receiver_that_is_down_is_one_warning_and_the_apply_succeeds(sluice_project, tmp_path):
    registry = tmp_path / "registry"
    registry.mkdir()
    project = sluice_project(shop(registry))
    url = dead_url()

    result = project.run("apply", "--openlineage-url", url, env=WEBHOOK_ONLY)

    assert result.exit_code == 0, result.output
    assert (registry / "orders_hook.webhook.json").is_file()
    warnings = [line for line in result.stderr.splitlines() if line]
    assert len(warnings) == 1, result.stderr
    assert warnings[0].startswith(
        f"warning: OpenLineage events not sent (could not reach the OpenLineage receiver at "
        f"{url}/api/v1/lineage: "
    )
    assert warnings[0].endswith("); the apply goes on without them")
    assert "apply: 1 success" in result.stdout


def test_a_bad_url_stops_apply_before_anything_changes(sluice_project, tmp_path):
    registry = tmp_path / "registry"
    registry.mkdir()
    project = sluice_project(shop(registry))

    result = project.run("apply", env={**WEBHOOK_ONLY, "OPENLINEAGE_URL": "notaurl"})

    assert result.exit_code == 1
    assert result.stderr == BAD_URL
    assert list(registry.iterdir()) == []


# -- apply's events, told with the engine and a stand-in plugin --------------------------------

STREAM_PROJECT = {
    "stream_project.yml": """
        project:
          name: payments
        runtime:
          stream:
            servers: broker:9092
            password: ${STREAM_PASSWORD:-hunter2-secret}
        sources:
          - name: raw
            topic: payments.raw
            columns:
              - { name: id, type: STRING }
              - { name: amount, type: DOUBLE }
        models:
          - name: clean
            materialized: topic
            sql: SELECT id, amount FROM {{ source("raw") }} WHERE amount > 0
          - name: totals
            materialized: flink
            sql: SELECT id, SUM(amount) AS total FROM {{ ref("clean") }} GROUP BY id
          - name: landing
            materialized: topic
            topic: { name: payments.landing }
            columns:
              - { name: id, type: STRING }
        """,
}


class Plugin:
    """Applies changes by saying so; the node in ``failing`` fails, quoting the password."""

    def __init__(self, failing: str | None = None) -> None:
        self.failing = failing

    def apply_started(self, context: object) -> None:
        pass

    def apply_finished(self, context: object, results: list[ApplyResult]) -> None:
        pass

    def apply_batch(self, plugin: str, changes: list[Change], context: object) -> None:
        return None

    def apply(self, change: Change, context: object) -> ApplyResult:
        if self.failing is not None and change.node == self.failing:
            return ApplyResult(change, "error", "job refused: password hunter2-secret is wrong")
        return ApplyResult(change, "success")


class Recorded:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def send(self, body: str) -> None:
        self.lines.append(body)

    @property
    def events(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.lines]


def apply_with_lineage(
    path: Path, changes: list[Change], failing: str | None = None, prune: bool = False
) -> tuple[list[dict[str, Any]], list[str], list[str]]:
    session = Session(path, manager=stream_plugin.manager())
    manifest = session.manifest
    sent = Recorded()
    warnings: list[str] = []
    watcher = ApplyLineage(ProjectJobs(manifest), sent, session.project.redact, warnings.append)
    context = SimpleNamespace(manifest=manifest, destroy=False, echo=lambda text: None)
    plan = Plan(tuple(changes), prune=prune)
    apply_plan(Plugin(failing), plan, context, threads=2, watcher=watcher)  # type: ignore[arg-type]
    return sent.events, sent.lines, warnings


def change(
    node: str | None, kind: str, stage: int, action: str = "create", name: str = ""
) -> Change:
    name = name or (node or "gone").split(".")[-1]
    return Change("stream", action, kind, name, node=node, stage=stage)  # type: ignore[arg-type]


def states(events: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return [(e["job"]["name"], e["eventType"]) for e in events]


def test_each_job_gets_start_then_running_or_complete_in_one_run(sluice_project):
    project = sluice_project(STREAM_PROJECT)
    events, _, warnings = apply_with_lineage(
        project.path,
        [
            change("model.clean", "topic", 0),
            change("model.clean", "job", 1),
            change("model.totals", "topic", 0),
            change("model.totals", "job", 1),
            change("model.landing", "topic", 0),
            change("source.raw", "topic", 0),  # a source is a dataset: no event
        ],
    )

    # graph order: landing stands alone, clean reads the source, totals reads clean
    assert states(events) == [
        ("landing", "START"),
        ("landing", "COMPLETE"),  # a topic that applications write: nothing keeps running
        ("clean", "START"),
        ("clean", "RUNNING"),
        ("totals", "START"),
        ("totals", "RUNNING"),
    ]
    for name in ("clean", "totals", "landing"):
        start, end = [e for e in events if e["job"]["name"] == name]
        assert start["run"]["runId"] == end["run"]["runId"]
    assert len({e["run"]["runId"] for e in events}) == 3
    for event in events:
        assert_valid(event)
    assert warnings == []


def test_a_failing_job_gets_fail_with_the_error_masked_and_its_dependants_nothing(
    sluice_project,
):
    project = sluice_project(STREAM_PROJECT)
    events, lines, _ = apply_with_lineage(
        project.path,
        [change("model.clean", "topic", 0), change("model.totals", "job", 1)],
        failing="model.clean",
    )

    assert states(events) == [("clean", "START"), ("clean", "FAIL")]  # totals was skipped
    error = events[1]["run"]["facets"]["errorMessage"]
    assert error["message"] == "job refused: password **** is wrong"
    assert error["programmingLanguage"] == "PYTHON"
    assert not any("hunter2-secret" in line for line in lines)
    for event in events:
        assert_valid(event)


def test_a_job_that_prune_removes_gets_start_and_complete_and_a_lone_topic_nothing(
    sluice_project,
):
    project = sluice_project(STREAM_PROJECT)
    events, _, _ = apply_with_lineage(
        project.path,
        [
            change(None, "job", 1, action="delete", name="old_job"),
            change(None, "topic", 0, action="delete", name="old_topic"),
        ],
        prune=True,
    )

    assert states(events) == [("old_job", "START"), ("old_job", "COMPLETE")]
    assert events[0]["job"]["facets"]["jobType"]["jobType"] == "JOB"
    for event in events:
        assert_valid(event)


def test_a_sender_that_breaks_is_reported_once_and_nothing_more_is_sent(sluice_project):
    project = sluice_project(STREAM_PROJECT)
    session = Session(project.path, manager=stream_plugin.manager())
    calls: list[str] = []

    class Broken:
        def send(self, body: str) -> None:
            calls.append(body)
            raise OSError("receiver on fire")

    warnings: list[str] = []
    watcher = ApplyLineage(
        ProjectJobs(session.manifest), Broken(), session.project.redact, warnings.append
    )
    context = SimpleNamespace(manifest=session.manifest, destroy=False, echo=lambda text: None)
    plan = Plan((change("model.clean", "job", 1), change("model.totals", "job", 1)))

    results = apply_plan(Plugin(), plan, context, watcher=watcher)  # type: ignore[arg-type]

    assert [r.status for r in results] == ["success", "success"]
    assert len(calls) == 1
    assert warnings == [
        "OpenLineage events not sent (OSError: receiver on fire); the apply goes on without them"
    ]
