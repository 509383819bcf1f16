"""The Flink part of ``sluice dev up``: a session cluster and its SQL Gateway, run with plain java.

Three services, started in this order:

``flink-jobmanager``
    ``StandaloneSessionClusterEntrypoint``; its directory holds what the three share: ``conf/``
    (``config.yaml``, ``log4j.properties``), ``ports.json``, ``jars/`` (links to the Maven
    jars in the cache), ``savepoints/``, ``checkpoints/`` and ``tmp/``. Gives
    ``FLINK_REST_URL``.
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
Gateway are single jars from Maven Central (fetched by :func:`sluice.devtools.maven.resolve`,
transitive dependencies excluded: they are fat jars, or, for the gateway, need only what
``flink-dist`` holds); the connector jars are on the classpath of every process so the
gateway's planner and the cluster's tasks both find the connector factories.

``<cache>`` is the dev services' one cache, :func:`sluice.devtools.cache.cache_root`
(``$SLUICE_CACHE_DIR``, else ``$XDG_CACHE_HOME/sluice``, else ``~/.cache/sluice``). Every
artifact is pinned by version and SHA-256 below; the versions must move together (the Kafka
connector is built for one Flink minor, and a mismatch only fails when a job starts).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shlex
import shutil
import subprocess
import sys
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sluice.devtools import maven
from sluice.devtools.cache import cache_root, flocked
from sluice.devtools.jvm import java_executable
from sluice.devtools.ports import choose_ports, load_ports
from sluice.errors import PluginError, RemoteError
from sluice.plugin.api import DevService

FLINK_VERSION = "2.2.1"
FLINK_WHEEL = "apache-flink-libraries"
FLINK_WHEEL_SHA256 = "74dc5546fbd9add8fbcdf1222a237e09491f9b80296241aef8676ec56f8e686e"

JOBMANAGER = "flink-jobmanager"
TASKMANAGER = "flink-taskmanager"
SQL_GATEWAY = "flink-sql-gateway"

DEFAULT_PORTS = {"rest": 8081, "sql_gateway": 8083, "rpc": 6123}
# Every job of a project takes a slot (parallelism 1): room for a project of a dozen jobs and
# the tests' jobs beside it.
TASK_SLOTS = 16
JOBMANAGER_MEMORY = "1024m"
TASKMANAGER_MEMORY = "3072m"
SQL_GATEWAY_HEAP = "512m"
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
    return (cache or cache_root()) / f"flink-libs-{FLINK_VERSION}" / "pyflink"


def install_flink(cache: Path | None = None) -> Path:
    """Install the pinned ``apache-flink-libraries`` wheel into the cache once; its home."""
    cache = cache or cache_root()
    target = cache / f"flink-libs-{FLINK_VERSION}"
    marker = target / ".complete"
    if marker.is_file():
        return flink_home(cache)
    # Two projects never fill the same entry at once (the lock file is the one used before).
    with flocked(cache / f".flink-libs-{FLINK_VERSION}.lock"):
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


def fetch_jars(dest: Path | None = None) -> dict[MavenJar, Path]:
    """The pinned jars (:data:`ALL_JARS`), each checked against its SHA-256, by jar.

    :func:`sluice.devtools.maven.resolve` fetches them once into the cache, without their
    transitive dependencies, into a throwaway local Maven repository (the cache keeps the only
    copy). Transitive dependencies must stay out: the gateway's (flink-clients,
    flink-table-api-java-bridge, and flink-runtime under them) are what flink-dist already
    holds, and a second copy on the classpath would only add weight and conflicts. With
    ``dest``, the paths are symbolic links in that directory.
    """
    paths = maven.resolve(
        [jar.coordinates for jar in ALL_JARS],
        dest,
        transitive=False,
        sha256={jar.coordinates: jar.sha256 for jar in ALL_JARS},
        throwaway_repository=True,
    )
    by_name = {path.name: path for path in paths}
    _forget_old_jar_cache()
    return {jar: by_name[jar.file_name] for jar in ALL_JARS}


def _forget_old_jar_cache() -> None:
    """Delete ``<cache>/flink-jars-<version>``, where this module kept the jars before."""
    old = cache_root() / f"flink-jars-{FLINK_VERSION}"
    if old.is_dir():
        shutil.rmtree(old, ignore_errors=True)
    (cache_root() / f".flink-jars-{FLINK_VERSION}.lock").unlink(missing_ok=True)


# -- configuration ---------------------------------------------------------------------------


def _shared_dir(service_dir: Path) -> Path:
    """The JobManager's directory, where the three services keep what they share."""
    return service_dir.parent / JOBMANAGER


def _conf_dir(service_dir: Path) -> Path:
    return _shared_dir(service_dir) / "conf"


def _jars_dir(service_dir: Path) -> Path:
    return _shared_dir(service_dir) / "jars"


def read_ports(service_dir: Path) -> dict[str, int]:
    """The ports chosen by the JobManager's ``prepare`` (``rest``, ``sql_gateway``, ``rpc``)."""
    path = _shared_dir(service_dir) / "ports.json"
    ports = load_ports(path)
    if not ports:
        raise PluginError(f"no Flink ports in {path}", hint="run 'sluice dev up' first")
    return ports


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


def _lib_jars(home: Path, service_dir: Path) -> list[Path]:
    """``lib/*.jar`` plus the connector jars, sorted by name, ``flink-dist`` last."""
    jars = [*home.joinpath("lib").glob("*.jar")]
    jars += [_jar_path(service_dir, jar) for jar in CONNECTOR_JARS]
    dist = [jar for jar in jars if jar.name.startswith("flink-dist")]
    others = sorted((jar for jar in jars if jar not in dist), key=lambda jar: jar.name)
    return others + dist


def _jar_path(service_dir: Path, jar: MavenJar) -> Path:
    """The link to ``jar`` that ``prepare`` made in the shared ``jars/``."""
    return _jars_dir(service_dir) / jar.file_name


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
            java_executable(),
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


def _prepare_artifacts(service_dir: Path) -> Path:
    home = install_flink()
    fetch_jars(_jars_dir(service_dir))
    return home


def prepare_jobmanager(service_dir: Path) -> None:
    """Fetch everything, choose the ports, write the shared config, compute JM memory."""
    home = _prepare_artifacts(service_dir)
    shared = _shared_dir(service_dir)
    for sub in ("conf", "tmp", "savepoints", "checkpoints", "log"):
        (shared / sub).mkdir(parents=True, exist_ok=True)
    # Only called while no Flink service of this project runs (the JobManager starts first).
    ports = choose_ports(shared / "ports.json", DEFAULT_PORTS)
    conf = shared / "conf"
    _write_if_changed(conf / "config.yaml", config_yaml(shared, ports))
    _write_if_changed(conf / "log4j.properties", LOG4J_PROPERTIES)
    memory_settings("JM", conf, home)


def prepare_taskmanager(service_dir: Path) -> None:
    home = _prepare_artifacts(service_dir)
    (service_dir / "log").mkdir(parents=True, exist_ok=True)
    memory_settings("TM", _conf_dir(service_dir), home)


def prepare_sql_gateway(service_dir: Path) -> None:
    _prepare_artifacts(service_dir)
    (service_dir / "log").mkdir(parents=True, exist_ok=True)


def _log_options(service_dir: Path, name: str) -> list[str]:
    conf = _conf_dir(service_dir)
    return [
        f"-Dlog.file={service_dir / 'log' / f'{name}.log'}",
        f"-Dlog4j.configurationFile={(conf / 'log4j.properties').as_uri()}",
    ]


def _cluster_command(service_dir: Path, role: str, name: str, *entrypoint: str) -> list[str]:
    """``java`` with the ``role``'s memory flags, the class path, ``entrypoint``, its config."""
    home = flink_home()
    conf = _conf_dir(service_dir)
    jvm, dynamic = memory_settings(role, conf, home)
    main_class, *arguments = entrypoint
    return [
        java_executable(),
        *jvm,
        *JAVA17_OPTIONS,
        *_log_options(service_dir, name),
        "-cp",
        os.pathsep.join(str(jar) for jar in _lib_jars(home, service_dir)),
        main_class,
        "--configDir",
        str(conf),
        *arguments,
        *dynamic,
    ]


def jobmanager_command(service_dir: Path) -> list[str]:
    return _cluster_command(
        service_dir,
        "JM",
        JOBMANAGER,
        "org.apache.flink.runtime.entrypoint.StandaloneSessionClusterEntrypoint",
        "--executionMode",
        "cluster",
    )


def taskmanager_command(service_dir: Path) -> list[str]:
    return _cluster_command(
        service_dir, "TM", TASKMANAGER, "org.apache.flink.runtime.taskexecutor.TaskManagerRunner"
    )


def sql_gateway_command(service_dir: Path) -> list[str]:
    home = flink_home()
    classpath = [*_lib_jars(home, service_dir), _jar_path(service_dir, SQL_GATEWAY_JAR)]
    return [
        java_executable(),
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


def is_own_cluster(service_dir: Path) -> bool:
    """Whether the JobManager answering on our port is ours (its temp dir is our state dir),
    and not another project's cluster that happens to hold the port."""
    port = read_ports(service_dir)["rest"]
    entries = _get_json(f"http://127.0.0.1:{port}/jobmanager/config")
    tmp_dirs = {e.get("value") for e in entries if e.get("key") == "io.tmp.dirs"}
    return str(_shared_dir(service_dir) / "tmp") in tmp_dirs


def jobmanager_ready(service_dir: Path) -> bool:
    return "flink-version" in overview(service_dir) and is_own_cluster(service_dir)


def taskmanager_ready(service_dir: Path) -> bool:
    return int(overview(service_dir).get("taskmanagers", 0)) >= 1 and is_own_cluster(service_dir)


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
