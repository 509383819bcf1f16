"""Deleting a job (destroy, prune) leaves nothing a later apply would resume from: the job is
cancelled (never stopped with a savepoint) and then its consumer group is deleted. Flink's
REST API is faked with httpx's MockTransport, Kafka's admin client with futures."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import Future
from contextlib import contextmanager
from types import SimpleNamespace
from typing import Any

import httpx
import pytest
from confluent_kafka import KafkaError, KafkaException

from sluice.errors import RemoteError
from sluice.plugin.api import Artifact, Change, PlanWarning
from sluice_flink import groups, planner
from sluice_flink.client import FlinkRest
from sluice_flink.config import FlinkConfig

PROJECT = "p"


class Flink:
    """Jobs by id, the calls made, and what a cancel does."""

    def __init__(self, jobs: list[dict[str, Any]]) -> None:
        self.jobs = {j["jid"]: dict(j) for j in jobs}
        self.calls: list[str] = []

    def handle(self, request: httpx.Request) -> httpx.Response:
        path, method = request.url.path, request.method
        self.calls.append(f"{method} {path}")
        parts = path.strip("/").split("/")
        if path == "/jobs/overview":
            return httpx.Response(200, json={"jobs": list(self.jobs.values())})
        if path == "/jobmanager/config":
            return httpx.Response(200, json=[])
        job = self.jobs[parts[1]]
        if method == "PATCH" and request.url.params.get("mode") == "cancel":
            job["state"] = "CANCELED"
            return httpx.Response(202, json={})
        if len(parts) == 2:
            return httpx.Response(200, json={"jid": job["jid"], "state": job["state"]})
        if parts[2] == "config":
            user = {planner.HASH_KEY: "h1"} if job.get("sluice", True) else {}
            return httpx.Response(200, json={"execution-config": {"user-config": user}})
        if parts[2] == "checkpoints":
            latest = (
                {"savepoint": {"external_path": job["savepoint"]}} if "savepoint" in job else {}
            )
            return httpx.Response(200, json={"latest": latest})
        return httpx.Response(404, json={"errors": [f"not faked: {method} {path}"]})


class Admin:
    """AdminClient's describe_consumer_groups and delete_consumer_groups over a set of groups."""

    def __init__(self, flink: Flink, existing: set[str], refuse: int | None = None) -> None:
        self.flink, self.existing, self.refuse = flink, existing, refuse

    def describe_consumer_groups(self, names: list[str], **_: Any) -> dict[str, Future[Any]]:
        answers = {}
        for name in names:
            future: Future[Any] = Future()
            state = "EMPTY" if name in self.existing else "DEAD"
            future.set_result(SimpleNamespace(state=SimpleNamespace(name=state)))
            answers[name] = future
        return answers

    def delete_consumer_groups(self, names: list[str], **_: Any) -> dict[str, Future[None]]:
        answers = {}
        for name in names:
            self.flink.calls.append(f"delete group {name}")
            future: Future[None] = Future()
            if self.refuse is not None:
                future.set_exception(KafkaException(KafkaError(self.refuse)))
            elif name not in self.existing:
                future.set_exception(KafkaException(KafkaError(KafkaError.GROUP_ID_NOT_FOUND)))
            else:
                self.existing.discard(name)
                future.set_result(None)
            answers[name] = future
        return answers


def job(name: str, jid: str, state: str = "RUNNING", **extra: Any) -> dict[str, Any]:
    return {"jid": jid, "name": f"sluice.{PROJECT}.{name}", "state": state, "start-time": 1} | extra


def artifact(name: str) -> Artifact:
    spec = {"pipeline_name": f"sluice.{PROJECT}.{name}", "spec_hash": "h1", "statements": []}
    return Artifact("flink", "job", f"sluice.{PROJECT}.{name}", spec)


def context(
    *,
    destroy: bool = False,
    prune: bool = False,
    wanted: tuple[str, ...] = (),
    others: tuple[Artifact, ...] = (),
) -> Any:
    return SimpleNamespace(
        runtime={"flink": FlinkConfig(rest_url="http://flink:8081"), "kafka": object()},
        destroy=destroy,
        prune=prune,
        manifest=SimpleNamespace(
            artifact_owners={}, all_artifacts=lambda: [*map(artifact, wanted), *others]
        ),
        project=SimpleNamespace(info=SimpleNamespace(name=PROJECT)),
        project_artifacts=lambda plugin: [artifact(n) for n in wanted],
        scratch={},
    )


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> Any:
    """fake(jobs, groups, refuse=None) -> the Flink fake the planner and apply talk to."""

    def make(jobs: list[dict[str, Any]], existing: set[str], refuse: int | None = None) -> Flink:
        flink = Flink(jobs)

        @contextmanager
        def rest(_context: Any, config: FlinkConfig) -> Iterator[FlinkRest]:
            client = FlinkRest(config.rest_url)
            client._client = httpx.Client(
                base_url=client.url, transport=httpx.MockTransport(flink.handle)
            )
            yield client

        monkeypatch.setattr(planner, "_rest", rest)
        monkeypatch.setattr(groups, "_admin", lambda runtime: Admin(flink, existing, refuse))
        return flink

    return make


def test_destroy_cancels_a_running_job_then_deletes_its_group(fake: Any) -> None:
    flink = fake([job("m", "j1")], {"sluice.p.m"})
    changes = planner.plan([artifact("m")], context(destroy=True))
    assert [(c.action, c.name) for c in changes] == [("delete", "sluice.p.m")]
    (change,) = changes
    assert change.reason == (
        "sluice destroy; cancels job j1 and deletes its consumer group sluice.p.m: "
        "a later apply starts from the earliest offsets"
    )

    result = planner.apply(change, context(destroy=True))
    assert result.message == "job j1 cancelled; consumer group sluice.p.m deleted"
    assert flink.jobs["j1"]["state"] == "CANCELED"
    assert not any("/stop" in call for call in flink.calls), "no savepoint: nothing to resume"
    # the group goes only once the job no longer commits to it
    assert flink.calls.index("delete group sluice.p.m") > flink.calls.index("PATCH /jobs/j1")


def test_a_deleted_job_is_resubmitted_fresh_while_a_stopped_one_resumes(fake: Any) -> None:
    # what the delete leaves (CANCELED) is planned as a plain create; what a replace whose
    # resubmission failed leaves (FINISHED with a savepoint) still resumes from the savepoint
    fake(
        [job("gone", "j1", "CANCELED"), job("replaced", "j2", "FINISHED", savepoint="file:/sp/2")],
        set(),
    )
    changes = planner.plan([artifact("gone"), artifact("replaced")], context())
    gone, replaced = changes
    assert isinstance(gone, Change) and isinstance(replaced, Change)
    assert (gone.action, gone.reason, gone.payload.get("savepoint")) == (
        "create",
        "job j1 is CANCELED",
        None,
    )
    assert replaced.payload["savepoint"] == "file:/sp/2"


def test_destroy_deletes_the_group_a_job_that_ended_left(fake: Any) -> None:
    flink = fake(
        [job("failed", "j1", "FAILED"), job("clean", "j2", "CANCELED")],
        {"sluice.p.failed", "sluice.p.expired"},
    )
    ctx = context(destroy=True)
    changes = planner.plan([artifact("failed"), artifact("clean"), artifact("expired")], ctx)
    assert [(c.name, c.reason) for c in changes if isinstance(c, Change)] == [
        (
            "sluice.p.failed",
            "sluice destroy; job j1 is FAILED; deletes its consumer group sluice.p.failed: "
            "a later apply starts from the earliest offsets",
        ),
        (
            "sluice.p.expired",
            "sluice destroy; no job of that name; deletes its consumer group sluice.p.expired: "
            "a later apply starts from the earliest offsets",
        ),
    ]
    for change in changes:
        assert isinstance(change, Change)
        assert planner.apply(change, ctx).message == f"consumer group {change.name} deleted"
    assert not any(call.startswith("PATCH") for call in flink.calls)


def test_destroy_warns_of_a_savepoint_a_failed_replace_left(fake: Any) -> None:
    fake([job("m", "j1", "FINISHED", savepoint="file:/sp/1")], set())
    (warning,) = planner.plan([artifact("m")], context(destroy=True))
    assert isinstance(warning, PlanWarning)
    assert "FINISHED with the savepoint file:/sp/1" in warning.message


def test_prune_cancels_orphans_and_forgets_their_groups(fake: Any) -> None:
    flink = fake(
        [
            job("kept", "j0"),
            job("left", "j1"),
            job("test.quality", "j2"),  # a continuous test's job reads with a group too
            job("ended", "j3", "FAILED"),
            job("foreign", "j4", sluice=False),  # not submitted by sluice: never touched
        ],
        {"sluice.p.left", "sluice.p.test.quality", "sluice.p.ended", "sluice.p.foreign"},
    )
    ctx = context(prune=True, wanted=("kept",))
    changes = [c for c in planner.plan([artifact("kept")], ctx) if isinstance(c, Change)]
    deletes = [c for c in changes if c.action == "delete"]
    assert [(c.name, c.payload["job_id"]) for c in deletes] == [
        ("sluice.p.left", "j1"),
        ("sluice.p.test.quality", "j2"),
        ("sluice.p.ended", None),
    ]
    assert "cancels job j2 and deletes its consumer group sluice.p.test.quality" in str(
        deletes[1].reason
    )
    messages = [planner.apply(c, ctx).message for c in deletes]
    assert messages[1] == "job j2 cancelled; consumer group sluice.p.test.quality deleted"
    assert flink.jobs["j0"]["state"] == "RUNNING" and flink.jobs["j4"]["state"] == "RUNNING"
    assert "delete group sluice.p.foreign" not in flink.calls


def test_a_model_that_moved_to_another_plugin_keeps_the_group_it_reads_with(fake: Any) -> None:
    # a Redpanda Connect stream of the same model reads with the same group, sluice.p.m
    flink = fake([job("m", "j1")], {"sluice.p.m"})
    stream = Artifact("redpanda", "stream", "sluice.p.m", {})
    ctx = context(prune=True, others=(stream,))
    (change,) = [c for c in planner.plan([], ctx) if isinstance(c, Change)]
    assert change.reason == (
        "its model left the project; cancels job j1 and keeps its consumer group sluice.p.m, "
        "which the redpanda stream sluice.p.m reads with"
    )
    assert planner.apply(change, ctx).message == "job j1 cancelled; consumer group sluice.p.m kept"
    assert "delete group sluice.p.m" not in flink.calls


def test_a_group_without_offsets_is_nothing_to_forget(fake: Any) -> None:
    fake([job("m", "j1")], set())
    (change,) = planner.plan([artifact("m")], context(destroy=True))
    message = planner.apply(change, context(destroy=True)).message
    assert message == "job j1 cancelled; consumer group sluice.p.m had no offsets"


def test_a_refused_group_delete_names_the_group_and_the_acl(fake: Any) -> None:
    fake([job("m", "j1")], {"sluice.p.m"}, refuse=KafkaError.GROUP_AUTHORIZATION_FAILED)
    (change,) = planner.plan([artifact("m")], context(destroy=True))
    with pytest.raises(RemoteError) as caught:
        planner.apply(change, context(destroy=True))
    text = caught.value.render()
    assert "Kafka refused to delete the consumer group sluice.p.m" in text, text
    assert "DELETE on the group sluice.p.m" in text, text
