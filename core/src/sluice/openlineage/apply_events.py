"""OpenLineage events while ``sluice apply`` changes the systems.

For each model whose changes apply carries out, one run (a fresh runId): START when its changes
begin, then RUNNING when they succeeded and the model keeps running (a Flink job, a connector,
a transform ...), COMPLETE when they removed it or it runs nothing (a topic that applications
write), or FAIL with the error when one of them failed. A job that left the project and that
``--prune`` deletes gets START and COMPLETE. Storage alone (a topic, a schema, an ACL of no
model) is not a job and gets no event.

Sending never fails the apply: the first failure is reported once as a warning and the rest of
the apply's events are dropped.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from typing import Any, Protocol

from sluice.errors import SluiceError
from sluice.openlineage.events import (
    Event,
    ProjectJobs,
    error_facet,
    event_time,
    runs_continuously,
    to_line,
)
from sluice.plugin.api import ApplyResult, Change


class Sender(Protocol):
    def send(self, body: str) -> None: ...


class ApplyLineage:
    """An apply watcher (see ``sluice.engine.ApplyWatcher``) that emits OpenLineage events."""

    def __init__(
        self,
        jobs: ProjectJobs,
        sender: Sender,
        redact: Callable[[str], str],
        warn: Callable[[str], None],
    ) -> None:
        self.jobs = jobs
        self.sender = sender
        self.redact = redact
        self.warn = warn
        self.runs: dict[str, str] = {}  # model unique id or removed job's key -> runId
        self.sent = 0
        self.failed = False

    def started(self, node: str | None, changes: Sequence[Change]) -> None:
        key = self._job_key(node, changes[0])
        if key is None:
            return
        run_id = str(uuid.uuid4())
        self.runs[key] = run_id
        self._emit(self._event(node, changes[0], "START", run_id))

    def finished(self, node: str | None, results: Sequence[ApplyResult]) -> None:
        key = self._job_key(node, results[0].change)
        if key is None or key not in self.runs:
            return
        error = next((r for r in results if r.status == "error"), None)
        facets: dict[str, Any] = {}
        if error is not None:
            state = "FAIL"
            facets["errorMessage"] = error_facet(self.redact(error.message))
        elif node is None or all(r.change.action == "delete" for r in results):
            state = "COMPLETE"
        else:
            state = "RUNNING" if runs_continuously(self.jobs.manifest.nodes[node]) else "COMPLETE"
        self._emit(self._event(node, results[0].change, state, self.runs.pop(key), facets))

    def _job_key(self, node: str | None, change: Change) -> str | None:
        """Which job a group of changes is, or None when it is no job."""
        if node is None:
            # a resource that left the project: processing and delivery (stage 1 and 2) are
            # jobs and connectors, storage (stage 0) is not
            return f"{change.plugin}:{change.kind}:{change.name}" if change.stage >= 1 else None
        found = self.jobs.manifest.nodes.get(node)
        return node if found is not None and found.resource_type == "model" else None

    def _event(
        self,
        node: str | None,
        change: Change,
        state: str,
        run_id: str,
        facets: dict[str, Any] | None = None,
    ) -> Event:
        if node is None:
            return self.jobs.removed_job_event(
                change.name, change.kind, state, run_id, event_time(), facets
            )
        return self.jobs.event(node, state, run_id, event_time(), facets)

    def _emit(self, event: Event) -> None:
        if self.failed:
            return
        try:
            self.sender.send(to_line(event, self.redact))
            self.sent += 1
        except SluiceError as exc:
            self._give_up(exc.message)
        except Exception as exc:  # whatever goes wrong here must not stop the apply
            self._give_up(f"{type(exc).__name__}: {exc}")

    def _give_up(self, why: str) -> None:
        self.failed = True
        self.warn(
            self.redact(f"OpenLineage events not sent ({why}); the apply goes on without them")
        )
