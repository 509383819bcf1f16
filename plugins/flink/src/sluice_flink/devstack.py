"""The Flink part of ``sluice dev up``: a session cluster and its SQL Gateway, run with plain java.

Three services, started in this order:

``flink-jobmanager``
    ``StandaloneSessionClusterEntrypoint``; its directory holds what the three share: ``conf/``
    (``config.yaml``, ``log4j.properties``), ``ports.json``, ``savepoints/``, ``checkpoints/``
    and ``tmp/``. Gives ``FLINK_REST_URL``.
``flink-taskmanager``
    ``TaskManagerRunner`` with 4 slots, ready once ``/overview`` counts a TaskManager.
``flink-sql-gateway``
    ``org.apache.flink.table.gateway.SqlGateway`` (REST endpoint). Gives ``FLINK_SQL_GATEWAY_URL``.

Nothing is installed into the user's environment. Flink itself comes from the
``apache-flink-libraries`` wheel, installed with ``pip install --target`` into
``<cache>/flink-libs-<version>``; the wheel has ``lib/``, ``plugins/`` and
``bin/bash-java-utils.jar`` but no scripts and no ``conf/``, so this module does by hand what
Flink's ``bin/*.sh`` do: it asks ``BashJavaUtils`` for the memory flags and dynamic configs,
builds the classpath (lib jars sorted by name, ``flink-dist`` last) and adds Java 17's
``--add-opens`` list. The Kafka SQL connector, the Avro Confluent-registry format and the SQL
Gateway are single jars from Maven Central (fetched with ``mvn``, transitive dependencies
excluded: they are fat jars, or, for the gateway, need only what ``flink-dist`` holds), put
on the classpath of every process so the gateway's planner and the cluster's tasks both find
the connector factories.

``<cache>`` is ``$SLUICE_CACHE_DIR`` or ``~/.cache/sluice`` (see :func:`cache_dir`). Every artifact is pinned by version
and SHA-256 below; the versions must move together (the Kafka connector is built for one
Flink minor, and a mismatch only fails when a job starts).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import shlex
import shutil
import socket
import subprocess
import sys
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sluice.errors import PluginError, RemoteError
from sluice.plugin.api import DevService

FLINK_VERSION = "2.2.1"
FLINK_WHEEL = "apache-flink-libraries"
FLINK_WHEEL_SHA256 = "74dc5546fbd9add8fbcdf1222a237e09491f9b80296241aef8676ec56f8e686e"

JOBMANAGER = "flink-jobmanager"
TASKMANAGER = "flink-taskmanager"
SQL_GATEWAY = "flink-sql-gateway"

DEFAULT_PORTS = {"rest": 8081, "sql_gateway": 8083, "rpc": 6123}
TASK_SLOTS = 4
JOBMANAGER_MEMORY = "1024m"
TASKMANAGER_MEMORY = "1536m"
SQL_GATEWAY_HEAP = "512m"
# Pinned so that a newer Maven default cannot change how the jars are fetched.
MAVEN_DEPENDENCY_PLUGIN = "org.apache.maven.plugins:maven-dependency-plugin:3.8.1"
HTTP_TIMEOUT = 2.0


@dataclass(frozen=True)
class MavenJar:
    """One jar from Maven Central, pinned by version and SHA-256."""

    group: str
    artifact: str
    version: str
    sha256: str

    @property
    def coordinates(self) -> str:
        return f"{self.group}:{self.artifact}:{self.version}"

    @property
    def file_name(self) -> str:
        return f"{self.artifact}-{self.version}.jar"


KAFKA_CONNECTOR = MavenJar(
    "org.apache.flink",
    "flink-sql-connector-kafka",
    "5.0.0-2.2",  # the release built against Flink 2.2
    "5605c691d11a501382c383fecba37a7a552467da5ab7ba904ef5d6f3d62c5616",
)
AVRO_CONFLUENT_FORMAT = MavenJar(
    "org.apache.flink",
    "flink-sql-avro-confluent-registry",
    "2.2.0",  # no 2.2.1 is published; patch releases of one minor are compatible
    "dc331e14107ded6e07f5f77321aa06d8019aa9f33654d0658e49648409b5b80d",
)
SQL_GATEWAY_JAR = MavenJar(
    "org.apache.flink",
    "flink-sql-gateway",
    FLINK_VERSION,
    "fde5f0f6e868c84de01312a4922404f9571c68a6d879e91fc602bbafa5d735aa",
)
CONNECTOR_JARS = (KAFKA_CONNECTOR, AVRO_CONFLUENT_FORMAT)
ALL_JARS = (*CONNECTOR_JARS, SQL_GATEWAY_JAR)

# What Flink's own config.yaml sets as env.java.opts.all for Java 17.
JAVA17_OPTIONS = (
    "--add-exports=java.base/sun.net.util=ALL-UNNAMED",
    "--add-exports=java.rmi/sun.rmi.registry=ALL-UNNAMED",
    "--add-exports=jdk.compiler/com.sun.tools.javac.api=ALL-UNNAMED",
    "--add-exports=jdk.compiler/com.sun.tools.javac.file=ALL-UNNAMED",
    "--add-exports=jdk.compiler/com.sun.tools.javac.parser=ALL-UNNAMED",
    "--add-exports=jdk.compiler/com.sun.tools.javac.tree=ALL-UNNAMED",
    "--add-exports=jdk.compiler/com.sun.tools.javac.util=ALL-UNNAMED",
    "--add-exports=java.security.jgss/sun.security.krb5=ALL-UNNAMED",
    "--add-opens=java.base/java.lang=ALL-UNNAMED",
    "--add-opens=java.base/java.net=ALL-UNNAMED",
    "--add-opens=java.base/java.io=ALL-UNNAMED",
    "--add-opens=java.base/java.nio=ALL-UNNAMED",
    "--add-opens=java.base/sun.nio.ch=ALL-UNNAMED",
    "--add-opens=java.base/java.lang.reflect=ALL-UNNAMED",
    "--add-opens=java.base/java.text=ALL-UNNAMED",
    "--add-opens=java.base/java.time=ALL-UNNAMED",
    "--add-opens=java.base/java.util=ALL-UNNAMED",
    "--add-opens=java.base/java.util.concurrent=ALL-UNNAMED",
    "--add-opens=java.base/java.util.concurrent.atomic=ALL-UNNAMED",
    "--add-opens=java.base/java.util.concurrent.locks=ALL-UNNAMED",
)

# Full INFO log in a size-rolled file next to the service; WARN and worse also on stdout, which
# DevStack keeps in .sluice/dev/logs/<service>.log (so a failed start shows why).
LOG4J_PROPERTIES = """\
monitorInterval = 30
rootLogger.level = INFO
rootLogger.appenderRef.file.ref = FileAppender
rootLogger.appenderRef.console.ref = ConsoleAppender

# Chatty libraries: only their warnings.
logger.pekko.name = org.apache.pekko
logger.pekko.level = WARN
logger.kafka.name = org.apache.kafka
logger.kafka.level = WARN
logger.shaded_kafka.name = org.apache.flink.kafka.shaded.org.apache.kafka
logger.shaded_kafka.level = WARN
logger.netty.name = org.apache.flink.shaded.netty4.io.netty
logger.netty.level = WARN
# "No tokens obtained" is expected without Kerberos or cloud credentials.
logger.tokens.name = org.apache.flink.runtime.security.token.DefaultDelegationTokenManager
logger.tokens.level = ERROR

appender.file.name = FileAppender
appender.file.type = RollingFile
appender.file.append = true
appender.file.fileName = ${sys:log.file}
appender.file.filePattern = ${sys:log.file}.%i
appender.file.layout.type = PatternLayout
appender.file.layout.pattern = %d{yyyy-MM-dd HH:mm:ss,SSS} %-5p %-60c %x - %m%n
appender.file.policies.type = Policies
appender.file.policies.size.type = SizeBasedTriggeringPolicy
appender.file.policies.size.size = 50MB
appender.file.policies.startup.type = OnStartupTriggeringPolicy
appender.file.strategy.type = DefaultRolloverStrategy
appender.file.strategy.max = 5

appender.console.name = ConsoleAppender
appender.console.type = CONSOLE
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = %d{yyyy-MM-dd HH:mm:ss,SSS} %-5p %-60c %x - %m%n
appender.console.filter.threshold.type = ThresholdFilter
appender.console.filter.threshold.level = WARN
"""


# -- the cache -------------------------------------------------------------------------------


def cache_dir() -> Path:
    """Where downloads live: ``$SLUICE_CACHE_DIR``, else ``$XDG_CACHE_HOME/sluice``, else
    ``~/.cache/sluice`` (never inside the project)."""
    configured = os.environ.get("SLUICE_CACHE_DIR")
    if configured:
        return Path(configured).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg).expanduser() if xdg else Path.home() / ".cache") / "sluice"


@contextlib.contextmanager
def _cache_lock(cache: Path, what: str) -> Iterator[None]:
    """Hold an exclusive lock so two projects never fill the same cache entry at once."""
    cache.mkdir(parents=True, exist_ok=True)
    with (cache / f".{what}.lock").open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _run(argv: Sequence[str], what: str, **options: Any) -> str:
    """Run a short command; its stdout, or a :class:`PluginError` with the end of its output."""
    try:
        done = subprocess.run(
            list(argv),
            capture_output=True,
            text=True,
            check=False,
            stdin=subprocess.DEVNULL,
            **options,
        )
    except OSError as error:
        raise PluginError(f"{what}: cannot run {argv[0]}: {error}") from error
    if done.returncode != 0:
        tail = "\n".join((done.stdout + done.stderr).strip().splitlines()[-25:])
        raise PluginError(
            f"{what} failed (exit code {done.returncode}):\n{tail}",
            hint=f"the command was: {shlex.join(argv)}",
        )
    return done.stdout


def flink_home(cache: Path | None = None) -> Path:
    """The ``pyflink`` directory of the installed wheel (``lib/``, ``plugins/``, ``bin/``)."""
    return (cache or cache_dir()) / f"flink-libs-{FLINK_VERSION}" / "pyflink"


def install_flink(cache: Path | None = None) -> Path:
    """Install the pinned ``apache-flink-libraries`` wheel into the cache once; its home."""
    cache = cache or cache_dir()
    target = cache / f"flink-libs-{FLINK_VERSION}"
    marker = target / ".complete"
    if marker.is_file():
        return flink_home(cache)
    with _cache_lock(cache, f"flink-libs-{FLINK_VERSION}"):
        if marker.is_file():  # another process finished it while we waited
            return flink_home(cache)
        partial = cache / f".flink-libs-{FLINK_VERSION}.partial"
        shutil.rmtree(partial, ignore_errors=True)
        partial.mkdir(parents=True)
        requirements = partial / "requirements.txt"
        requirements.write_text(
            f"{FLINK_WHEEL}=={FLINK_VERSION} --hash=sha256:{FLINK_WHEEL_SHA256}\n",
            encoding="utf-8",
        )
        site = partial / "site"
        _run(
            [
                sys.executable,
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
                "--no-input",
                "--no-deps",
                "--no-cache-dir",  # the cache entry is the copy; pip's own would be a second one
                "--only-binary=:all:",
                "--require-hashes",
                "--target",
                str(site),
                "-r",
                str(requirements),
            ],
            f"installing {FLINK_WHEEL}=={FLINK_VERSION}",
        )
        dist = site / "pyflink" / "lib" / f"flink-dist-{FLINK_VERSION}.jar"
        if not dist.is_file():
            raise PluginError(f"{FLINK_WHEEL}=={FLINK_VERSION} installed no {dist.name}")
        shutil.rmtree(target, ignore_errors=True)
        os.replace(site, target)
        shutil.rmtree(partial, ignore_errors=True)
        marker.write_text(f"{FLINK_WHEEL}=={FLINK_VERSION} sha256:{FLINK_WHEEL_SHA256}\n")
    return flink_home(cache)


def _maven_pom(jars: Sequence[MavenJar]) -> str:
    """A throwaway POM depending on ``jars`` alone (every transitive dependency excluded)."""
    dependencies = "".join(
        f"""
    <dependency>
      <groupId>{jar.group}</groupId>
      <artifactId>{jar.artifact}</artifactId>
      <version>{jar.version}</version>
      <exclusions><exclusion><groupId>*</groupId><artifactId>*</artifactId></exclusion></exclusions>
    </dependency>"""
        for jar in jars
    )
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>dev.sluice.cache</groupId>
  <artifactId>flink-dev-jars</artifactId>
  <version>0</version>
  <packaging>pom</packaging>
  <dependencies>{dependencies}
  </dependencies>
</project>
"""


def fetch_jars(jars: Sequence[MavenJar] = ALL_JARS, cache: Path | None = None) -> list[Path]:
    """The pinned jars, fetched once with ``mvn`` into ``<cache>/flink-jars-<version>``.

    A small private resolver: one ``mvn dependency:copy-dependencies`` run over a generated POM
    whose dependencies exclude all of theirs (into a throwaway local repository); each
    jar's SHA-256 is checked against its pin before it is kept. Transitive dependencies must
    stay out: the gateway's (flink-clients, flink-table-api-java-bridge, and flink-runtime
    under them) are what flink-dist already holds, and a second copy on the classpath would
    only add weight and conflicts.
    """
    cache = cache or cache_dir()
    dest = cache / f"flink-jars-{FLINK_VERSION}"
    paths = [dest / jar.file_name for jar in jars]
    if all(path.is_file() for path in paths):
        return paths
    with _cache_lock(cache, f"flink-jars-{FLINK_VERSION}"):
        missing = [jar for jar in jars if not (dest / jar.file_name).is_file()]
        if not missing:
            return paths
        mvn = shutil.which("mvn")
        if mvn is None:
            raise PluginError(
                "the Flink dev stack needs Maven ('mvn') to fetch "
                + ", ".join(jar.coordinates for jar in missing),
                hint="install Maven 3.6 or newer and put mvn on PATH",
            )
        work = cache / f".flink-jars-{FLINK_VERSION}.partial"
        shutil.rmtree(work, ignore_errors=True)
        work.mkdir(parents=True)
        (work / "pom.xml").write_text(_maven_pom(missing), encoding="utf-8")
        _run(
            [
                mvn,
                "--batch-mode",
                "--quiet",
                "--file",
                str(work / "pom.xml"),
                # A throwaway local repository: the kept copies are the checked jars.
                f"-Dmaven.repo.local={work / 'repository'}",
                f"{MAVEN_DEPENDENCY_PLUGIN}:copy-dependencies",
                f"-DoutputDirectory={work / 'jars'}",
            ],
            "fetching " + ", ".join(jar.coordinates for jar in missing),
        )
        dest.mkdir(parents=True, exist_ok=True)
        for jar in missing:
            got = work / "jars" / jar.file_name
            if not got.is_file():
                raise PluginError(f"mvn did not deliver {jar.coordinates}")
            actual = _sha256(got)
            if actual != jar.sha256:
                raise PluginError(
                    f"{jar.coordinates} has SHA-256 {actual}, expected {jar.sha256}",
                    hint="if the pin is right, the artifact changed upstream or a Maven "
                    "mirror serves other bytes",
                )
            os.replace(got, dest / jar.file_name)
        shutil.rmtree(work, ignore_errors=True)
    return paths


# -- configuration ---------------------------------------------------------------------------


def _port_is_free(port: int) -> bool:
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _any_free_port(taken: set[int]) -> int:
    while True:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = int(sock.getsockname()[1])
        if port not in taken:
            return port


def _shared_dir(service_dir: Path) -> Path:
    """The JobManager's directory, where the three services keep what they share."""
    return service_dir.parent / JOBMANAGER


def _conf_dir(service_dir: Path) -> Path:
    return _shared_dir(service_dir) / "conf"


def read_ports(service_dir: Path) -> dict[str, int]:
    """The ports chosen by the JobManager's ``prepare`` (``rest``, ``sql_gateway``, ``rpc``)."""
    data = json.loads((_shared_dir(service_dir) / "ports.json").read_text(encoding="utf-8"))
    return {key: int(value) for key, value in data.items()}


def choose_ports(shared: Path) -> dict[str, int]:
    """Ports chosen once and kept in ``ports.json``; one that is now taken is chosen anew.

    Only called while no Flink service of this project runs (the JobManager starts first).
    """
    path = shared / "ports.json"
    try:
        ports = {key: int(value) for key, value in json.loads(path.read_text()).items()}
    except (FileNotFoundError, ValueError):
        ports = {}
    chosen: dict[str, int] = {}
    for key, default in DEFAULT_PORTS.items():
        port = ports.get(key, default)
        if port in chosen.values() or not _port_is_free(port):
            port = _any_free_port(set(chosen.values()))
        chosen[key] = port
    if chosen != ports:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(chosen, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return chosen


def config_yaml(shared: Path, ports: Mapping[str, int]) -> str:
    """Flink 2.x ``config.yaml`` of the local cluster (flat keys; values as JSON scalars)."""
    settings: dict[str, object] = {
        "jobmanager.rpc.address": "localhost",
        "jobmanager.rpc.port": ports["rpc"],
        "jobmanager.bind-host": "localhost",
        "jobmanager.memory.process.size": JOBMANAGER_MEMORY,
        "jobmanager.execution.failover-strategy": "region",
        "taskmanager.bind-host": "localhost",
        "taskmanager.host": "localhost",
        "taskmanager.numberOfTaskSlots": TASK_SLOTS,
        "taskmanager.memory.process.size": TASKMANAGER_MEMORY,
        "parallelism.default": 1,
        "rest.address": "127.0.0.1",
        "rest.bind-address": "127.0.0.1",
        "rest.port": ports["rest"],
        "io.tmp.dirs": str(shared / "tmp"),
        "execution.checkpointing.savepoint-dir": (shared / "savepoints").as_uri(),
        "execution.checkpointing.dir": (shared / "checkpoints").as_uri(),
        "sql-gateway.endpoint.type": "rest",
        "sql-gateway.endpoint.rest.address": "127.0.0.1",
        "sql-gateway.endpoint.rest.bind-address": "127.0.0.1",
        "sql-gateway.endpoint.rest.port": ports["sql_gateway"],
    }
    lines = ["# Written by sluice (flink dev stack); rewritten on every 'sluice dev up'.\n"]
    lines += [f"{key}: {json.dumps(value)}\n" for key, value in settings.items()]
    return "".join(lines)


def _write_if_changed(path: Path, text: str) -> None:
    if not path.is_file() or path.read_text(encoding="utf-8") != text:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")


def _java() -> str:
    java_home = os.environ.get("JAVA_HOME")
    if java_home and (Path(java_home) / "bin" / "java").is_file():
        return str(Path(java_home) / "bin" / "java")
    found = shutil.which("java")
    if found is None:
        raise PluginError(
            "the Flink dev stack needs Java 17 or newer ('java' is not on PATH)",
            hint="install a JDK 17 and put it on PATH or set JAVA_HOME",
        )
    return found


def _lib_jars(home: Path) -> list[Path]:
    """``lib/*.jar`` plus the connector jars, sorted by name, ``flink-dist`` last."""
    jars = [*home.joinpath("lib").glob("*.jar")]
    jars += [_jar_path(jar) for jar in CONNECTOR_JARS]
    dist = [jar for jar in jars if jar.name.startswith("flink-dist")]
    others = sorted((jar for jar in jars if jar not in dist), key=lambda jar: jar.name)
    return others + dist


def _jar_path(jar: MavenJar) -> Path:
    return cache_dir() / f"flink-jars-{FLINK_VERSION}" / jar.file_name


def memory_settings(role: str, conf: Path, home: Path) -> tuple[list[str], list[str]]:
    """JVM memory flags and ``-D`` dynamic configs for ``role`` ("JM" or "TM").

    As Flink's scripts do, asks ``BashJavaUtils``; the answer is cached next to the config and
    reused while ``config.yaml`` is unchanged (each call costs a JVM start, about 1.3 s).
    """
    config_hash = hashlib.sha256((conf / "config.yaml").read_bytes()).hexdigest()
    cached = conf / f"memory-{role.lower()}.json"
    with contextlib.suppress(FileNotFoundError, ValueError, KeyError):
        data = json.loads(cached.read_text(encoding="utf-8"))
        if data["config_sha256"] == config_hash and data["flink"] == FLINK_VERSION:
            return list(data["jvm"]), list(data["dynamic"])
    classpath = os.pathsep.join(
        [
            str(home / "bin" / "bash-java-utils.jar"),
            str(home / "lib" / f"flink-dist-{FLINK_VERSION}.jar"),
        ]
    )
    output = _run(
        [
            _java(),
            "-cp",
            classpath,
            "org.apache.flink.runtime.util.bash.BashJavaUtils",
            f"GET_{role}_RESOURCE_PARAMS",
            "--configDir",
            str(conf),
        ],
        f"computing the Flink {role} memory settings",
    )
    prefix = "BASH_JAVA_UTILS_EXEC_RESULT:"
    results = [line[len(prefix) :] for line in output.splitlines() if line.startswith(prefix)]
    if len(results) < 2:
        raise PluginError(f"BashJavaUtils gave no {role} memory settings:\n{output[-2000:]}")
    jvm, dynamic = shlex.split(results[-2]), shlex.split(results[-1])
    payload = {"config_sha256": config_hash, "flink": FLINK_VERSION, "jvm": jvm, "dynamic": dynamic}
    cached.write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
    return jvm, dynamic


# -- the services ----------------------------------------------------------------------------


def _prepare_artifacts() -> Path:
    home = install_flink()
    fetch_jars()
    return home


def prepare_jobmanager(service_dir: Path) -> None:
    """Fetch everything, choose the ports, write the shared config, compute JM memory."""
    home = _prepare_artifacts()
    shared = _shared_dir(service_dir)
    for sub in ("conf", "tmp", "savepoints", "checkpoints", "log"):
        (shared / sub).mkdir(parents=True, exist_ok=True)
    ports = choose_ports(shared)
    conf = shared / "conf"
    _write_if_changed(conf / "config.yaml", config_yaml(shared, ports))
    _write_if_changed(conf / "log4j.properties", LOG4J_PROPERTIES)
    memory_settings("JM", conf, home)


def prepare_taskmanager(service_dir: Path) -> None:
    home = _prepare_artifacts()
    (service_dir / "log").mkdir(parents=True, exist_ok=True)
    memory_settings("TM", _conf_dir(service_dir), home)


def prepare_sql_gateway(service_dir: Path) -> None:
    _prepare_artifacts()
    (service_dir / "log").mkdir(parents=True, exist_ok=True)


def _log_options(service_dir: Path, name: str) -> list[str]:
    conf = _conf_dir(service_dir)
    return [
        f"-Dlog.file={service_dir / 'log' / f'{name}.log'}",
        f"-Dlog4j.configurationFile={(conf / 'log4j.properties').as_uri()}",
    ]


def jobmanager_command(service_dir: Path) -> list[str]:
    home = flink_home()
    conf = _conf_dir(service_dir)
    jvm, dynamic = memory_settings("JM", conf, home)
    return [
        _java(),
        *jvm,
        *JAVA17_OPTIONS,
        *_log_options(service_dir, JOBMANAGER),
        "-cp",
        os.pathsep.join(str(jar) for jar in _lib_jars(home)),
        "org.apache.flink.runtime.entrypoint.StandaloneSessionClusterEntrypoint",
        "--configDir",
        str(conf),
        "--executionMode",
        "cluster",
        *dynamic,
    ]


def taskmanager_command(service_dir: Path) -> list[str]:
    home = flink_home()
    conf = _conf_dir(service_dir)
    jvm, dynamic = memory_settings("TM", conf, home)
    return [
        _java(),
        *jvm,
        *JAVA17_OPTIONS,
        *_log_options(service_dir, TASKMANAGER),
        "-cp",
        os.pathsep.join(str(jar) for jar in _lib_jars(home)),
        "org.apache.flink.runtime.taskexecutor.TaskManagerRunner",
        "--configDir",
        str(conf),
        *dynamic,
    ]


def sql_gateway_command(service_dir: Path) -> list[str]:
    home = flink_home()
    classpath = [*_lib_jars(home), _jar_path(SQL_GATEWAY_JAR)]
    return [
        _java(),
        f"-Xmx{SQL_GATEWAY_HEAP}",
        *JAVA17_OPTIONS,
        *_log_options(service_dir, SQL_GATEWAY),
        "-cp",
        os.pathsep.join(str(jar) for jar in classpath),
        "org.apache.flink.table.gateway.SqlGateway",
        # Jobs go to this session cluster (rest.address and rest.port from config.yaml).
        "-Dexecution.target=remote",
    ]


def process_env(service_dir: Path) -> dict[str, str]:
    """What Flink's scripts export: where its config, libraries and plugins are."""
    home = flink_home()
    return {
        "FLINK_HOME": str(home),
        "FLINK_CONF_DIR": str(_conf_dir(service_dir)),
        "FLINK_LIB_DIR": str(home / "lib"),
        "FLINK_OPT_DIR": str(home / "opt"),
        "FLINK_PLUGINS_DIR": str(home / "plugins"),
        "FLINK_BIN_DIR": str(home / "bin"),
    }


def _get_json(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=HTTP_TIMEOUT) as response:
        if response.status != 200:
            raise RemoteError(f"GET {url} answered {response.status}")
        return json.load(response)


def rest_url(service_dir: Path) -> str:
    return f"http://localhost:{read_ports(service_dir)['rest']}"


def sql_gateway_url(service_dir: Path) -> str:
    return f"http://localhost:{read_ports(service_dir)['sql_gateway']}"


def overview(service_dir: Path) -> dict[str, Any]:
    """``GET /overview`` of the cluster's REST API."""
    data = _get_json(f"http://127.0.0.1:{read_ports(service_dir)['rest']}/overview")
    return dict(data)


def jobmanager_ready(service_dir: Path) -> bool:
    return "flink-version" in overview(service_dir)


def taskmanager_ready(service_dir: Path) -> bool:
    return int(overview(service_dir).get("taskmanagers", 0)) >= 1


def sql_gateway_ready(service_dir: Path) -> bool:
    _get_json(f"http://127.0.0.1:{read_ports(service_dir)['sql_gateway']}/v1/info")
    return True


def dev_services() -> list[DevService]:
    """The JobManager, a TaskManager after it, and the SQL Gateway after the TaskManager."""
    return [
        DevService(
            name=JOBMANAGER,
            prepare=prepare_jobmanager,
            command=jobmanager_command,
            ready=jobmanager_ready,
            env=lambda service_dir: {"FLINK_REST_URL": rest_url(service_dir)},
            process_env=process_env,
            start_timeout=120.0,
        ),
        DevService(
            name=TASKMANAGER,
            prepare=prepare_taskmanager,
            command=taskmanager_command,
            ready=taskmanager_ready,
            env=lambda service_dir: {},
            process_env=process_env,
            after=(JOBMANAGER,),
            start_timeout=90.0,
        ),
        DevService(
            name=SQL_GATEWAY,
            prepare=prepare_sql_gateway,
            command=sql_gateway_command,
            ready=sql_gateway_ready,
            env=lambda service_dir: {"FLINK_SQL_GATEWAY_URL": sql_gateway_url(service_dir)},
            process_env=process_env,
            after=(TASKMANAGER,),
            start_timeout=90.0,
        ),
    ]
