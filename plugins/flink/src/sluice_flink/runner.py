"""The SQL-runner jar: how jobs reach a Flink cluster that has no SQL Gateway.

With only ``runtime.flink.rest_url`` configured, a job's statements go through Flink's own
REST API. A one-class Java program (``sql_runner/``, main class ``dev.sluice.flink.SqlRunner``)
is uploaded once (``POST /jars/upload``) and run once per job (``POST /jars/{id}/run``) with
the job's statements as program arguments, one base64 argument per statement so that quotes,
line breaks and semicolons arrive untouched. The runner puts the ``SET`` statements into its
TableEnvironment's configuration and executes the rest; the ``INSERT INTO`` submits the job
(detached, as every web submission to a session cluster is), and the run request answers with
the job's id.

Building. The jar is compiled from the package's sources with ``mvn -q package`` against the
cluster's Flink version (Flink is ``provided``: the cluster's class path has it, and the Kafka
connector), the first time it is needed, into ``<cache>/flink-sql-runner/<version>-<hash>/``
(``<cache>`` as in :func:`sluice.devtools.cache.cache_root`), never into the project. On the
cluster it is called ``sluice-sql-runner-<version>-<hash>.jar``, so an apply finds what an
earlier apply uploaded (``GET /jars``), and a changed runner is never confused with an old one.

Secrets. The arguments hold the job's statements with their ``{{secret:...}}`` markers
replaced, exactly as the gateway path sends them to its session: base64 keeps the quoting
intact and hides nothing. Nothing here prints or logs them, and error answers are masked.
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
import shutil
import tempfile
import threading
from collections.abc import Mapping, MutableMapping, Sequence
from pathlib import Path
from typing import Any

from sluice.devtools import maven
from sluice.devtools.cache import cache_root, flocked
from sluice.errors import PluginError, RemoteError
from sluice_flink.client import MASK, FlinkError, FlinkRest
from sluice_flink.devstack import FLINK_VERSION

ENTRY_CLASS = "dev.sluice.flink.SqlRunner"
SOURCES = Path(__file__).with_name("sql_runner")
BUILT_JAR = "sluice-flink-sql-runner.jar"  # the pom's finalName
RUN_TIMEOUT = 120.0  # the run request plans the job in the JobManager (seconds on 2 cores)
SCRATCH = "flink.sql-runner-jar"
_RELEASE = re.compile(r"^\d+\.\d+\.\d+$")
_FAILED_STATEMENT = re.compile(r"sluice SQL runner: (statement \d+ \(.{0,200}?\.\.\.\)) failed")
# Jobs of one apply are submitted from several threads: one of them builds and uploads.
_UPLOAD_LOCK = threading.Lock()


class RunnerBuildError(PluginError):
    """The SQL-runner jar cannot be built here (no Maven or JDK, or the build failed)."""


# -- the jar ----------------------------------------------------------------------------------


def source_hash() -> str:
    """SHA-256 of the runner's sources (paths and bytes): a new runner gets a new jar."""
    digest = hashlib.sha256()
    for path in sorted(SOURCES.rglob("*")):
        relative = path.relative_to(SOURCES)
        if path.is_file() and "target" not in relative.parts:
            digest.update(relative.as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def build_version(cluster_version: str | None) -> str:
    """The Flink version to compile against: the cluster's release, else the dev stack's."""
    if cluster_version and _RELEASE.match(cluster_version):
        return cluster_version
    return FLINK_VERSION


def jar_name(flink_version: str) -> str:
    """The runner's name on the cluster, and in the cache."""
    return f"sluice-sql-runner-{flink_version}-{source_hash()[:12]}.jar"


def cached_jar(flink_version: str) -> Path:
    entry = f"{flink_version}-{source_hash()[:16]}"
    return cache_root() / "flink-sql-runner" / entry / jar_name(flink_version)


def build_jar(flink_version: str) -> Path:
    """The runner jar for ``flink_version``: from the cache, or built now with mvn."""
    jar = cached_jar(flink_version)
    if jar.is_file():
        return jar
    check_build_tools()
    root = jar.parent.parent
    with flocked(root / f".{jar.parent.name}.lock"):  # two processes never build one entry
        if jar.is_file():
            return jar
        work = Path(tempfile.mkdtemp(prefix=".build-", dir=root))
        try:
            project = work / "sql_runner"
            shutil.copytree(SOURCES, project, ignore=shutil.ignore_patterns("target"))
            _package(project, flink_version)
            jar.parent.mkdir(parents=True, exist_ok=True)
            os.replace(project / "target" / BUILT_JAR, jar)
        finally:
            shutil.rmtree(work, ignore_errors=True)
    return jar


def _package(project: Path, flink_version: str) -> None:
    what = f"sluice's Flink SQL runner jar (against Flink {flink_version})"
    try:
        maven.package(project, what, {"flink.version": flink_version})
    except RemoteError as error:
        raise RunnerBuildError(error.message, hint=_GATEWAY_INSTEAD) from None
    if not (project / "target" / BUILT_JAR).is_file():
        raise RunnerBuildError(f"mvn built {what} but wrote no target/{BUILT_JAR}")


_GATEWAY_INSTEAD = (
    "or set runtime.flink.sql_gateway_url to submit jobs through a Flink SQL Gateway instead"
)


def check_build_tools() -> None:
    """Maven and a JDK (``javac``) are where the build needs them, or a RunnerBuildError."""
    found = {"mvn": shutil.which("mvn"), "javac": _javac()}
    missing = [tool for tool, path in found.items() if path is None]
    if missing:
        raise RunnerBuildError(
            "without a SQL Gateway, sluice submits Flink jobs with a small SQL-runner jar that "
            f"it builds with Maven on first use, and {' and '.join(missing)} "
            f"{'is' if len(missing) == 1 else 'are'} not on PATH",
            hint="install Maven 3.8+ and a JDK 11+ (e.g. apt-get install maven "
            f"openjdk-17-jdk-headless), {_GATEWAY_INSTEAD}",
        )


def _javac() -> str | None:
    home = os.environ.get("JAVA_HOME")
    if home and Path(home, "bin", "javac").is_file():
        return str(Path(home, "bin", "javac"))
    return shutil.which("javac")


def describe(cluster_version: str | None) -> str:
    """The probe's word on submission without a gateway, and whether the jar is ready."""
    version = build_version(cluster_version)
    text = "no SQL Gateway: jobs submitted through the REST API with sluice's SQL-runner jar"
    if cached_jar(version).is_file():
        return f"{text} ({jar_name(version)})"
    try:
        check_build_tools()
    except RunnerBuildError:
        return f"{text}, which needs mvn and javac to be built (not found)"
    return f"{text}, built with mvn on first use"


# -- on the cluster ---------------------------------------------------------------------------


def uploaded_jar(rest: FlinkRest, scratch: MutableMapping[str, Any]) -> str:
    """The runner's jar id on the cluster: found (``GET /jars``) or uploaded, once per run.

    ``scratch`` is the run's per-plugin state: later jobs of the same apply reuse the id.
    """
    key = f"{SCRATCH}:{rest.url}"
    with _UPLOAD_LOCK:
        if key in scratch:
            return str(scratch[key])
        version = build_version(rest.overview().get("flink-version"))
        name = jar_name(version)
        found = [jar for jar in rest.jars() if jar.get("name") == name]
        if found:
            jar_id = str(max(found, key=lambda jar: int(jar.get("uploaded") or 0))["id"])
        else:
            jar_id = rest.upload_jar(build_jar(version), name)
        scratch[key] = jar_id
        return jar_id


def program_args(statements: Sequence[str]) -> list[str]:
    """One base64 (UTF-8) argument per statement, as ``SqlRunner`` reads them."""
    return [base64.b64encode(statement.encode()).decode("ascii") for statement in statements]


def run_request(
    statements: Sequence[str],
    configuration: Mapping[str, str],
    parallelism: int | None,
    savepoint: str | None,
) -> dict[str, Any]:
    """The body of ``POST /jars/{id}/run`` for one job.

    ``configuration`` is what the gateway path opens the job's session with (its name and
    recorded spec hash): here it is the run's own configuration (``flinkConfiguration``).
    """
    body: dict[str, Any] = {
        "entryClass": ENTRY_CLASS,
        "programArgsList": program_args(statements),
        "flinkConfiguration": dict(configuration),
    }
    if parallelism is not None:
        body["parallelism"] = parallelism
    if savepoint:
        body["savepointPath"] = savepoint
        # as on the gateway path: state the new job cannot map fails the restore, visibly
        body["allowNonRestoredState"] = False
    return body


def run_job(
    rest: FlinkRest,
    scratch: MutableMapping[str, Any],
    name: str,
    statements: Sequence[str],
    configuration: Mapping[str, str],
    parallelism: int | None,
    savepoint: str | None,
) -> str:
    """Submit one job through the runner jar; the id of the job it started."""
    jar_id = uploaded_jar(rest, scratch)
    body = run_request(statements, configuration, parallelism, savepoint)
    try:
        return rest.run_jar(jar_id, body, RUN_TIMEOUT)
    except FlinkError as exc:
        server = exc.server
        for argument in body["programArgsList"]:  # should Flink ever quote an argument back
            server = server.replace(argument, MASK)
        # the runner names the statement that failed, further out than the root causes
        failed = _FAILED_STATEMENT.search(exc.trace)
        which = f"{failed.group(1)} failed" if failed else "Flink could not run its statements"
        raise RemoteError(f"job {name}: {which}: {server}") from None
