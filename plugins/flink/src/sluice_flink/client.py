"""HTTP clients of a Flink session cluster: its REST API and its SQL Gateway's REST API.

Both raise :class:`sluice.errors.RemoteError` carrying what the server said (Flink answers
errors as ``{"errors": [...]}``; the gateway puts a Java stack trace there, of which the
``Caused by:`` lines are the useful part). Every request is bounded by a timeout, and so is
every wait. Values listed in ``secrets`` are masked in every error message, since Flink likes
to quote table options back (``Table options are: ...``).
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Self

import httpx

from sluice.errors import RemoteError

REQUEST_TIMEOUT = 30.0
POLL_INTERVAL = 0.25
MASK = "****"
# job states after which a job never runs again
TERMINAL_STATES = frozenset({"FINISHED", "FAILED", "CANCELED"})


class FlinkError(RemoteError):
    """A request Flink answered with an error; ``server`` is what it said (secrets masked).

    ``trace`` is the whole answer (every stack trace, secrets masked), for callers that look
    for a line of their own in it.
    """

    def __init__(self, message: str, server: str, trace: str = "") -> None:
        super().__init__(message)
        self.server = server
        self.trace = trace


def _mask(text: str, secrets: Sequence[str]) -> str:
    for secret in secrets:
        if secret:
            text = text.replace(secret, MASK)
    return text


def server_message(response: httpx.Response) -> str:
    """The readable part of an error answer: the root causes of a stack trace, or its text."""
    body = response.text
    errors: list[str] = []
    try:
        data = json.loads(body)
        if isinstance(data, dict) and isinstance(data.get("errors"), list):
            errors = [str(e) for e in data["errors"]]
    except ValueError:
        pass
    if not errors:
        return body.strip()[:2000] or response.reason_phrase
    causes = [
        line.strip()
        for error in errors
        for line in error.splitlines()
        if line.strip().startswith("Caused by:")
    ]
    if causes:
        # the innermost causes say what went wrong; the outer ones only where
        return "\n".join(dict.fromkeys(c.removeprefix("Caused by: ") for c in causes[-3:]))
    first_lines = [e.splitlines()[0] for e in errors if e.strip()]
    generic = {"Internal server error."}
    useful = [line for line in first_lines if line not in generic] or first_lines
    return "\n".join(useful)[:2000]


class _Http:
    """A JSON-over-HTTP client of one base URL."""

    what = "Flink"

    def __init__(
        self, url: str, timeout: float = REQUEST_TIMEOUT, secrets: Sequence[str] = ()
    ) -> None:
        self.url = url.rstrip("/")
        self.secrets = tuple(s for s in secrets if s)
        self._client = httpx.Client(base_url=self.url, timeout=timeout)

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def request(
        self,
        method: str,
        path: str,
        body: Mapping[str, Any] | None = None,
        *,
        timeout: float | None = None,
        files: Mapping[str, Any] | None = None,
    ) -> Any:
        """One request (a JSON ``body``, or multipart ``files`` as httpx takes them); its JSON
        answer. Every call to the server goes through here (the bench times Flink by it)."""
        options: dict[str, Any] = {"files": files} if files is not None else {"json": body}
        if timeout is not None:  # else the client's (httpx reads None as "wait forever")
            options["timeout"] = timeout
        try:
            response = self._client.request(method, path, **options)
        except httpx.HTTPError as exc:
            raise RemoteError(
                f"{self.what} at {self.url} did not answer {method} {path}: "
                f"{type(exc).__name__}: {exc}",
                hint="is the service running and the URL in runtime.flink right?",
            ) from exc
        if response.status_code >= 400:
            message = _mask(server_message(response), self.secrets)
            raise FlinkError(
                f"{self.what} refused {method} {path} ({response.status_code}): {message}",
                message,
                _mask(response.text, self.secrets),
            )
        if not response.content:
            return None
        try:
            return response.json()
        except ValueError as exc:
            raise RemoteError(
                f"{self.what} answered {method} {path} with something other than JSON: "
                f"{response.text[:200]!r}"
            ) from exc


def wait_for(
    what: str, check: Callable[[], Any], timeout: float, interval: float = POLL_INTERVAL
) -> Any:
    """Call ``check`` until it returns something other than None; a RemoteError after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        answer = check()
        if answer is not None:
            return answer
        if time.monotonic() >= deadline:
            raise RemoteError(f"timed out after {timeout:g}s waiting for {what}")
        time.sleep(interval)


class FlinkRest(_Http):
    """Flink's REST API (the JobManager's, ``runtime.flink.rest_url``)."""

    what = "Flink"

    def overview(self) -> dict[str, Any]:
        data: dict[str, Any] = self.request("GET", "/overview")
        return data

    def cluster_config(self) -> dict[str, str]:
        """The JobManager's configuration as a flat mapping."""
        entries = self.request("GET", "/jobmanager/config") or []
        return {str(e["key"]): str(e["value"]) for e in entries}

    def jobs(self) -> list[dict[str, Any]]:
        """Every job the cluster remembers (running and recently ended), with name and state."""
        data = self.request("GET", "/jobs/overview") or {}
        jobs: list[dict[str, Any]] = data.get("jobs", [])
        return jobs

    def job(self, job_id: str) -> dict[str, Any]:
        data: dict[str, Any] = self.request("GET", f"/jobs/{job_id}")
        return data

    def user_config(self, job_id: str) -> dict[str, str]:
        """The job's global job parameters (``execution-config.user-config``)."""
        data = self.request("GET", f"/jobs/{job_id}/config") or {}
        config = data.get("execution-config", {}).get("user-config", {}) or {}
        return {str(k): str(v) for k, v in config.items()}

    def checkpoints(self, job_id: str) -> dict[str, Any]:
        data: dict[str, Any] = self.request("GET", f"/jobs/{job_id}/checkpoints") or {}
        return data

    def root_exception(self, job_id: str) -> str | None:
        try:
            data = self.request("GET", f"/jobs/{job_id}/exceptions") or {}
        except RemoteError:
            return None
        text = data.get("root-exception")
        if not text:
            history = data.get("exceptionHistory", {}).get("entries", [])
            text = history[0].get("stacktrace") if history else None
        if not text:
            return None
        lines = [line.strip() for line in str(text).splitlines()]
        causes = [
            line.removeprefix("Caused by: ") for line in lines if line.startswith("Caused by:")
        ]
        return _mask(causes[-1] if causes else lines[0], self.secrets)

    def jars(self) -> list[dict[str, Any]]:
        """The jars uploaded to the cluster (``GET /jars``), each with its ``id`` and ``name``."""
        data = self.request("GET", "/jars") or {}
        files: list[dict[str, Any]] = data.get("files", [])
        return files

    def upload_jar(self, path: Path, name: str) -> str:
        """Upload a jar under ``name`` (``POST /jars/upload``, multipart ``jarfile``); its id."""
        with path.open("rb") as handle:
            part = (name, handle, "application/x-java-archive")
            answer = self.request("POST", "/jars/upload", files={"jarfile": part}) or {}
        stored = str(answer.get("filename") or "")
        if answer.get("status") != "success" or not stored:
            raise RemoteError(f"Flink did not take the jar {name}: {json.dumps(answer)[:300]}")
        # the id is the file name the JobManager stored it under: <uuid>_<name>
        return stored.replace("\\", "/").rsplit("/", 1)[-1]

    def run_jar(self, jar_id: str, body: Mapping[str, Any], timeout: float) -> str:
        """Run an uploaded jar's main class (``POST /jars/{id}/run``); the id of its job."""
        answer = self.request("POST", f"/jars/{jar_id}/run", body, timeout=timeout) or {}
        if not answer.get("jobid"):
            raise RemoteError(
                f"Flink ran jar {jar_id} but named no job: {json.dumps(answer)[:300]}"
            )
        return str(answer["jobid"])

    def cancel(self, job_id: str) -> None:
        self.request("PATCH", f"/jobs/{job_id}?mode=cancel")

    def stop_with_savepoint(self, job_id: str, directory: str | None, timeout: float) -> str:
        """Stop the job with a savepoint (no drain) and return the savepoint's location.

        Waits for the savepoint to complete and then for the job to reach FINISHED (it says
        RUNNING for a moment after the savepoint is done).
        """
        body: dict[str, Any] = {"drain": False}
        if directory:
            body["targetDirectory"] = directory
        trigger = self.request("POST", f"/jobs/{job_id}/stop", body)["request-id"]

        def savepoint_done() -> str | None:
            answer = self.request("GET", f"/jobs/{job_id}/savepoints/{trigger}")
            if answer.get("status", {}).get("id") != "COMPLETED":
                return None
            operation = answer.get("operation") or {}
            if operation.get("location"):
                return str(operation["location"])
            cause = operation.get("failure-cause") or {}
            detail = cause.get("stack-trace") or cause.get("class") or json.dumps(cause)
            lines = [line for line in str(detail).splitlines() if line.startswith("Caused by:")]
            reason = (lines[-1] if lines else str(detail).splitlines()[0]).removeprefix(
                "Caused by: "
            )
            raise RemoteError(
                f"Flink could not stop job {job_id} with a savepoint: {_mask(reason, self.secrets)}"
            )

        location: str = wait_for(f"the savepoint of job {job_id}", savepoint_done, timeout)
        self.wait_for_state(job_id, TERMINAL_STATES, timeout)
        return location

    def wait_for_state(self, job_id: str, states: frozenset[str], timeout: float) -> str:
        def reached() -> str | None:
            state = str(self.job(job_id).get("state"))
            return state if state in states else None

        state: str = wait_for(f"job {job_id} to be {'/'.join(sorted(states))}", reached, timeout)
        return state

    def wait_until_running(self, job_id: str, timeout: float) -> dict[str, Any]:
        """Wait until every task of the job runs; a RemoteError with the cause if it fails."""

        def running() -> dict[str, Any] | None:
            job = self.job(job_id)
            state = job.get("state")
            if state in ("FAILED", "FAILING", "CANCELED", "CANCELLING"):
                cause = self.root_exception(job_id) or "no exception recorded"
                raise RemoteError(f"Flink job {job_id} is {state}: {cause}")
            counts = job.get("status-counts") or {}
            total = sum(int(n) for n in counts.values())
            if state == "RUNNING" and total and counts.get("RUNNING", 0) == total:
                return job
            return None

        try:
            job: dict[str, Any] = wait_for(f"job {job_id} to run", running, timeout)
        except RemoteError as error:
            error.hint = error.hint or self._no_free_slot()
            raise
        return job

    def _no_free_slot(self) -> str | None:
        """Why a job may never run: it waits for task slots that never free up."""
        try:
            overview = self.overview()
        except RemoteError:
            return None
        if overview.get("slots-available") != 0:
            return None
        return (
            f"the cluster has no free task slot ({overview.get('slots-total')} in all, "
            f"{overview.get('jobs-running')} jobs running): add TaskManagers or "
            "taskmanager.numberOfTaskSlots, lower the parallelism, or stop jobs"
        )


@dataclass(frozen=True)
class StatementResult:
    kind: str  # SUCCESS, SUCCESS_WITH_CONTENT ...
    job_id: str | None
    rows: list[list[Any]]


class SqlGateway(_Http):
    """The SQL Gateway's REST API (v1 paths; the v2+ endpoints keep them)."""

    what = "the Flink SQL Gateway"

    def info(self) -> dict[str, Any]:
        data: dict[str, Any] = self.request("GET", "/v1/info")
        return data

    def open_session(self, name: str, properties: Mapping[str, str]) -> str:
        body = {"sessionName": name, "properties": dict(properties)}
        return str(self.request("POST", "/v1/sessions", body)["sessionHandle"])

    def close_session(self, handle: str) -> None:
        self.request("DELETE", f"/v1/sessions/{handle}")

    @contextmanager
    def session(self, name: str, properties: Mapping[str, str]) -> Iterator[str]:
        """A session of its own, closed whatever happens (its settings die with it)."""
        handle = self.open_session(name, properties)
        try:
            yield handle
        finally:
            with contextlib.suppress(RemoteError):  # the gateway expires idle sessions anyway
                self.close_session(handle)

    def execute(self, handle: str, statement: str, timeout: float) -> StatementResult:
        """Run one statement and return its first page of results (an INSERT's has the job id)."""
        base = f"/v1/sessions/{handle}"
        operation = self.request("POST", f"{base}/statements", {"statement": statement})
        uri = f"{base}/operations/{operation['operationHandle']}/result/0"

        def page() -> dict[str, Any] | None:
            answer: dict[str, Any] = self.request("GET", uri)
            return None if answer.get("resultType") == "NOT_READY" else answer

        first: dict[str, Any] = wait_for("the SQL Gateway to run a statement", page, timeout)
        results = first.get("results") or {}
        rows = [row.get("fields", []) for row in results.get("data", [])]
        return StatementResult(str(first.get("resultKind", "")), first.get("jobID"), rows)
