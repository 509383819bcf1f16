"""The Connect plugin's services for ``sluice dev up``: PostgreSQL and a Kafka Connect worker.

**postgres** is a PostgreSQL server from the distribution's packages (Debian:
``/usr/lib/postgresql/<version>/bin``; ``prepare`` runs ``apt-get install -y postgresql`` when
no server is found and it may). It has a cluster of its own in ``.sluice/dev/postgres/data``,
made by ``initdb`` on the first ``up`` and kept across ``down``/``up``, listens on 127.0.0.1
only, and holds the database ``sluice`` owned by the login role ``sluice`` (password
``sluice``): ``PG_DSN``, ``PG_JDBC_URL``, ``PG_USER``, ``PG_PASSWORD``. The superuser is
``postgres``; it may log in without a password over the Unix socket in
``.sluice/dev/postgres/run`` (``psql -h .sluice/dev/postgres/run -U postgres sluice``), which
exists only when that path is short enough for a socket (about 90 characters).

``down`` sends SIGTERM, which PostgreSQL takes as a *smart* shutdown: it waits for the open
sessions to end. The worker stops first, so in the stack nothing holds one; a ``psql`` left
open elsewhere delays ``down`` until its stop timeout (20 s), after which the server is killed
and recovers from its write-ahead log on the next start.

PostgreSQL refuses to run as root. When sluice runs as root, the server runs as the
``postgres`` account (created when missing) and its data directory belongs to that account,
provided the account can reach the directory. When it cannot (the project lies under a
directory only root may enter, such as ``/root`` or pytest's temporary directories), the server
runs in a user namespace of its own (``unshare --user``), where root looks like the
``postgres`` account, so the files stay root's and the process has no privilege over the host.
Installing the package may also create and start the distribution's own cluster ("main",
usually on port 5432); it is not used, and the port of this one is chosen around it.

**connect** is one Kafka Connect distributed worker
(``org.apache.kafka.connect.cli.ConnectDistributed``) run from Maven Central jars, with a
plugin path that holds the Debezium JDBC sink connector together with the PostgreSQL JDBC
driver. Its REST API is at ``CONNECT_REST_URL``. It stores its connectors, offsets and status
in three compacted topics of the ``kafka`` service (replication factor 1), so connectors
survive ``down``/``up`` as long as the broker's data does.

DevService callbacks only see their own directory, and ``.sluice/dev/env`` is written only
once the whole ``up`` is done, so the worker finds the broker through the port file that the
``kafka`` service (plugin sluice-kafka) keeps beside its own state:
``.sluice/dev/kafka/ports.json``, key ``plaintext``.
"""

from __future__ import annotations

import json
import os
import pwd
import re
import shutil
import signal
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path

from sluice.devtools import maven
from sluice.devtools.jvm import java_executable
from sluice.devtools.ports import choose_ports, read_port
from sluice.errors import RemoteError, SluiceError
from sluice.plugin.api import DevService

# One minor ahead of the dev broker (sluice_kafka.devstack, 4.1): Kafka 4.2 brought the
# JsonConverter's `schema.content` (KIP-1054), which gives schemaless JSON topics the schema that
# sinks such as JDBC need. Workers talk to older brokers without trouble.
KAFKA_VERSION = "4.2.0"
LOG4J_VERSION = "2.25.3"
# connect-runtime brings the worker and its REST server; connect-json the JsonConverter;
# connect-file the FileStream connectors. Kafka 4.2 logs through slf4j 1.7, hence log4j 2
# with its slf4j 1.x binding.
WORKER_ARTIFACTS = (
    f"org.apache.kafka:connect-runtime:{KAFKA_VERSION}",
    f"org.apache.kafka:connect-json:{KAFKA_VERSION}",
    f"org.apache.kafka:connect-file:{KAFKA_VERSION}",
    f"org.apache.logging.log4j:log4j-core:{LOG4J_VERSION}",
    f"org.apache.logging.log4j:log4j-slf4j-impl:{LOG4J_VERSION}",
)
# The newest release whose dependency tree resolves from Maven Central: 3.6.0.Final needs
# org.hibernate:hibernate-agroal:7.2.6.Final and 3.4.3.Final io.debezium:debezium-sink:3.4.3.Final,
# neither of which can be fetched.
DEBEZIUM_VERSION = "3.5.0.Final"
POSTGRES_DRIVER_VERSION = "42.7.14"
JDBC_SINK_CLASS = "io.debezium.connector.jdbc.JdbcSinkConnector"
# One plugin directory = one class loader: the JDBC driver must sit beside the connector that
# opens connections, or the connector cannot see it.
CONNECT_PLUGINS: Mapping[str, tuple[str, ...]] = {
    "debezium-connector-jdbc": (
        f"io.debezium:debezium-connector-jdbc:{DEBEZIUM_VERSION}",
        f"org.postgresql:postgresql:{POSTGRES_DRIVER_VERSION}",
    ),
}

CONNECT_PORTS = {"rest": 8084}
CONNECT_HEAP = ("-Xms128m", "-Xmx768m")
JVM_FLAGS = ("-XX:+UseG1GC", "-XX:+ExitOnOutOfMemoryError", "-Djava.awt.headless=true")
CONNECT_GROUP = "sluice-dev-connect"
KAFKA_SERVICE = "kafka"

POSTGRES_PORTS = {"postgres": 5432}
PG_DATABASE = "sluice"
PG_USER = "sluice"
PG_PASSWORD = "sluice-dev-password"  # distinct: secrets are masked wherever their text appears
PG_SUPERUSER = "postgres"
PG_ACCOUNT = "postgres"  # the system account the server runs as when sluice runs as root
# A development server: speed over durability (a killed process loses nothing that the
# operating system already has; only a crash of the machine could).
PG_SETTINGS = (
    "listen_addresses=127.0.0.1",
    "fsync=off",
    "full_page_writes=off",
    "synchronous_commit=off",
    "shared_buffers=64MB",
    "max_connections=100",
)
# A socket path (sun_path) holds 107 bytes; the file name "/.s.PGSQL.<port>" takes up to 15.
_SOCKET_DIR_MAX = 90

_LOG4J2_XML = """\
<?xml version="1.0" encoding="UTF-8"?>
<!-- written by sluice: the worker logs to stdout, which sluice dev keeps in logs/connect.log -->
<Configuration status="warn">
  <Appenders>
    <Console name="stdout" target="SYSTEM_OUT">
      <PatternLayout pattern="[%d{ISO8601}] %-5p %m (%c{1})%n"/>
    </Console>
  </Appenders>
  <Loggers>
    <Root level="INFO"><AppenderRef ref="stdout"/></Root>
    <Logger name="org.apache.kafka.clients" level="WARN"/>
    <Logger name="org.apache.kafka.common.config.AbstractConfig" level="WARN"/>
    <Logger name="org.reflections" level="ERROR"/>
    <Logger name="org.hibernate" level="WARN"/>
    <Logger name="com.mchange" level="WARN"/>
  </Loggers>
</Configuration>
"""


# -- postgres: finding and installing the server ---------------------------------------------


def _is_server_bin(path: Path) -> bool:
    return all((path / tool).is_file() for tool in ("initdb", "postgres", "pg_isready"))


def _version_key(path: Path) -> tuple[int, ...]:
    return tuple(int(part) for part in path.name.split(".") if part.isdigit())


def find_pg_bin() -> Path | None:
    """The directory holding ``initdb``, ``postgres`` and ``pg_isready``, or None.

    ``initdb`` on ``PATH`` wins (followed through symbolic links); otherwise the newest
    ``/usr/lib/postgresql/<version>/bin`` (where Debian puts them, off ``PATH``).
    """
    found = shutil.which("initdb")
    if found:
        candidate = Path(found).resolve().parent
        if _is_server_bin(candidate):
            return candidate
    root = Path("/usr/lib/postgresql")
    if root.is_dir():
        versions = sorted(
            (entry for entry in root.iterdir() if _is_server_bin(entry / "bin")),
            key=_version_key,
        )
        if versions:
            return versions[-1] / "bin"
    return None


def _apt_install() -> None:
    """``apt-get install -y postgresql`` (after ``apt-get update`` when the first try fails)."""
    if os.geteuid() != 0:
        raise SluiceError(
            "the dev service 'postgres' needs a PostgreSQL server, and none is installed "
            "(no initdb on PATH nor under /usr/lib/postgresql/<version>/bin)",
            hint="install it as root (Debian/Ubuntu: apt-get install postgresql), "
            "or run sluice dev up as root to let it do so",
        )
    if shutil.which("apt-get") is None:
        raise SluiceError(
            "the dev service 'postgres' needs a PostgreSQL server; none is installed and "
            "there is no apt-get to install one",
            hint="install PostgreSQL with your system's package manager",
        )
    env = os.environ | {"DEBIAN_FRONTEND": "noninteractive"}

    def run(*argv: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            argv, capture_output=True, text=True, env=env, stdin=subprocess.DEVNULL, check=False
        )

    done = run("apt-get", "install", "-y", "--no-install-recommends", "postgresql")
    if done.returncode != 0:
        update = run("apt-get", "update")
        done = (
            update
            if update.returncode != 0
            else run("apt-get", "install", "-y", "--no-install-recommends", "postgresql")
        )
    if done.returncode != 0:
        raise SluiceError(
            f"apt-get could not install PostgreSQL (exit code {done.returncode}):\n"
            + (done.stdout + done.stderr).strip()[-2000:],
            hint="install the package 'postgresql' by hand, then run sluice dev up again",
        )


def _pg_bin() -> Path:
    found = find_pg_bin()
    if found is None:
        raise SluiceError(
            "no PostgreSQL server found (initdb, postgres and pg_isready)",
            hint="run sluice dev up again: its prepare step installs the package 'postgresql'",
        )
    return found


# -- postgres: who runs the server -------------------------------------------------------------


def _account() -> pwd.struct_passwd:
    """The ``postgres`` system account, created when missing (root only)."""
    try:
        return pwd.getpwnam(PG_ACCOUNT)
    except KeyError:
        pass
    done = subprocess.run(
        ["useradd", "--system", "--user-group", "--no-create-home", "--home-dir",
         "/nonexistent", "--shell", "/usr/sbin/nologin", PG_ACCOUNT],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    if done.returncode != 0:
        raise SluiceError(
            f"PostgreSQL refuses to run as root and the account '{PG_ACCOUNT}' could not be "
            f"created: {(done.stdout + done.stderr).strip()}",
            hint=f"create a system account named '{PG_ACCOUNT}', or run sluice as another user",
        )
    return pwd.getpwnam(PG_ACCOUNT)


def _as_account(account: pwd.struct_passwd) -> list[str]:
    """argv prefix running a program as ``account`` (exec'd in place: no parent stays)."""
    if shutil.which("setpriv"):
        return [
            "setpriv",
            f"--reuid={account.pw_uid}",
            f"--regid={account.pw_gid}",
            "--init-groups",
            "--",
        ]
    return ["runuser", "-u", account.pw_name, "--"]


def _account_reaches(prefix: Sequence[str], state_dir: Path) -> bool:
    done = subprocess.run([*prefix, "test", "-x", str(state_dir)], capture_output=True)
    return done.returncode == 0


def _in_user_namespace(account: pwd.struct_passwd) -> list[str]:
    """argv prefix running a program in a new user namespace where root is ``account``."""
    return [
        "unshare",
        "--user",
        f"--map-user={account.pw_uid}",
        f"--map-group={account.pw_gid}",
        "--",
    ]


def _launcher(state_dir: Path) -> list[str]:
    """The argv prefix that runs the PostgreSQL programs (empty unless sluice runs as root).

    Also gives the data and socket directories to the account that will use them.
    """
    if os.geteuid() != 0:
        return []
    account = _account()
    as_account = _as_account(account)
    owner = (0, 0)
    if _account_reaches(as_account, state_dir):
        prefix, owner = as_account, (account.pw_uid, account.pw_gid)
    else:
        prefix = _in_user_namespace(account)
        probe = subprocess.run([*prefix, "true"], capture_output=True, text=True)
        if probe.returncode != 0:
            raise SluiceError(
                f"PostgreSQL refuses to run as root, the account '{PG_ACCOUNT}' cannot enter "
                f"{state_dir}, and no user namespace can be made "
                f"({(probe.stdout + probe.stderr).strip()})",
                hint="put the project where that account may enter its directories, "
                "or run sluice as another user",
            )
    for directory in (state_dir / "data", state_dir / "run"):
        if directory.exists():
            _chown_tree(directory, *owner)
    return prefix


def _chown_tree(root: Path, uid: int, gid: int) -> None:
    if root.stat().st_uid == uid and root.stat().st_gid == gid:
        return
    os.chown(root, uid, gid)
    for path in root.rglob("*"):
        os.chown(path, uid, gid, follow_symlinks=False)


# -- postgres: the service -----------------------------------------------------------------------


def _pg_ports(state_dir: Path) -> Path:
    return state_dir / "ports.json"


def _pg_port(state_dir: Path) -> int:
    return read_port(_pg_ports(state_dir), "postgres")


def _socket_dir(state_dir: Path) -> Path | None:
    """``run/`` for the Unix socket, or None when its path would be too long for one."""
    path = state_dir / "run"
    return path if len(os.fsencode(path)) <= _SOCKET_DIR_MAX else None


def _launch_file(state_dir: Path) -> Path:
    return state_dir / "launch.json"


def _run_checked(argv: Sequence[str], what: str, state_dir: Path, stdin: str | None = None) -> None:
    done = subprocess.run(
        list(argv), input=stdin, capture_output=True, text=True, check=False, timeout=300
    )
    if done.returncode != 0:
        raise RemoteError(
            f"{what} failed (exit code {done.returncode}):\n"
            + (done.stdout + done.stderr).strip()[-2000:],
            hint=f"delete {state_dir} to start from scratch",
        )


def postgres_prepare(state_dir: Path) -> None:
    """Install the server if needed, pick the port, create the cluster and its database once."""
    if find_pg_bin() is None:
        _apt_install()
    bin_dir = _pg_bin()
    choose_ports(_pg_ports(state_dir), POSTGRES_PORTS)
    data = state_dir / "data"
    fresh = not (data / "PG_VERSION").exists()
    if fresh:
        # A half-made cluster (an interrupted first up) is thrown away and made again.
        shutil.rmtree(data, ignore_errors=True)
        data.mkdir(mode=0o700)
    socket = _socket_dir(state_dir)
    if socket is not None:
        socket.mkdir(mode=0o700, exist_ok=True)
    prefix = _launcher(state_dir)
    _launch_file(state_dir).write_text(json.dumps({"prefix": prefix}) + "\n", encoding="utf-8")
    if not fresh:
        return
    try:
        _run_checked(
            [
                *prefix,
                str(bin_dir / "initdb"),
                "--pgdata",
                str(data),
                "--username",
                PG_SUPERUSER,
                "--encoding",
                "UTF8",
                "--locale",
                "C",
                "--auth-local",
                "trust",
                "--auth-host",
                "scram-sha-256",
                "--no-sync",
                "--no-instructions",
            ],
            f"initdb of {data}",
            state_dir,
        )
        # Single-user mode: the role and the database exist before the server ever listens.
        # One statement per line; exit_on_error turns a failed statement into an exit code.
        statements = (
            f"CREATE ROLE {PG_USER} LOGIN PASSWORD '{PG_PASSWORD}'\n"
            f"CREATE DATABASE {PG_DATABASE} OWNER {PG_USER}\n"
        )
        _run_checked(
            [
                *prefix,
                str(bin_dir / "postgres"),
                "--single",
                "-D",
                str(data),
                "-c",
                "exit_on_error=on",
                "postgres",
            ],
            f"creating the role and database '{PG_DATABASE}' in {data}",
            state_dir,
            stdin=statements,
        )
    except BaseException:
        shutil.rmtree(data, ignore_errors=True)
        raise


def postgres_command(state_dir: Path) -> Sequence[str]:
    """``postgres -D data -p <port> -k run -c listen_addresses=127.0.0.1 ...``."""
    launch = json.loads(_launch_file(state_dir).read_text(encoding="utf-8"))
    socket = _socket_dir(state_dir)
    argv = [
        *launch["prefix"],
        str(_pg_bin() / "postgres"),
        "-D",
        str(state_dir / "data"),
        "-p",
        str(_pg_port(state_dir)),
        "-k",
        str(socket) if socket is not None else "",
    ]
    for setting in PG_SETTINGS:
        argv += ["-c", setting]
    return argv


def postgres_ready(state_dir: Path) -> bool:
    """Whether ``pg_isready`` finds the server accepting connections to database ``sluice``."""
    done = subprocess.run(
        [
            str(_pg_bin() / "pg_isready"),
            "--host=127.0.0.1",
            f"--port={_pg_port(state_dir)}",
            f"--dbname={PG_DATABASE}",
            f"--username={PG_USER}",
            "--timeout=2",
        ],
        capture_output=True,
        check=False,
        timeout=10,
    )
    return done.returncode == 0


def postgres_env(state_dir: Path) -> Mapping[str, str]:
    port = _pg_port(state_dir)
    return {
        "PG_DSN": f"postgresql://{PG_USER}:{PG_PASSWORD}@127.0.0.1:{port}/{PG_DATABASE}",
        "PG_JDBC_URL": f"jdbc:postgresql://127.0.0.1:{port}/{PG_DATABASE}",
        "PG_USER": PG_USER,
        "PG_PASSWORD": PG_PASSWORD,
    }


# -- connect -------------------------------------------------------------------------------------


def _connect_ports(state_dir: Path) -> Path:
    return state_dir / "ports.json"


def kafka_bootstrap(state_dir: Path) -> str:
    """``localhost:<port>`` of the PLAINTEXT listener of the sibling ``kafka`` service."""
    ports = state_dir.parent / KAFKA_SERVICE / "ports.json"
    try:
        return f"localhost:{read_port(ports, 'plaintext')}"
    except KeyError as error:
        raise SluiceError(
            f"the dev service 'connect' needs the Kafka broker's port, but {ports} names none",
            hint="start the 'kafka' service of sluice-kafka first (sluice dev up kafka)",
        ) from error


def _worker_properties(state_dir: Path, port: int, bootstrap: str) -> str:
    lines = [
        "# written by sluice (sluice-connect dev service) on every start; edits are lost",
        f"bootstrap.servers={bootstrap}",
        f"group.id={CONNECT_GROUP}",
        f"config.storage.topic=_{CONNECT_GROUP}-configs",
        f"offset.storage.topic=_{CONNECT_GROUP}-offsets",
        f"status.storage.topic=_{CONNECT_GROUP}-status",
        "config.storage.replication.factor=1",
        "offset.storage.replication.factor=1",
        "status.storage.replication.factor=1",
        "offset.storage.partitions=5",
        "status.storage.partitions=1",
        "offset.flush.interval.ms=5000",
        "key.converter=org.apache.kafka.connect.json.JsonConverter",
        "value.converter=org.apache.kafka.connect.json.JsonConverter",
        "key.converter.schemas.enable=true",
        "value.converter.schemas.enable=true",
        f"listeners=http://127.0.0.1:{port}",
        "rest.advertised.host.name=127.0.0.1",
        f"rest.advertised.port={port}",
        f"plugin.path={state_dir / 'plugins'}",
        # Every plugin here (and the worker's own) ships ServiceLoader manifests, so the slow
        # reflective scan of each jar (15 s of the worker's start on two cores) is skipped.
        "plugin.discovery=service_load",
        # a new worker joins at once instead of waiting for others to show up
        "scheduled.rebalance.max.delay.ms=0",
    ]
    return "\n".join(lines) + "\n"


def connect_prepare(state_dir: Path) -> None:
    """Fetch the worker and the connector plugins, pick the port, write the configuration."""
    worker = maven.resolve(list(WORKER_ARTIFACTS), state_dir / "lib")
    plugins = state_dir / "plugins"
    plugins.mkdir(exist_ok=True)
    for name, coordinates in CONNECT_PLUGINS.items():
        _link_plugin(plugins / name, coordinates, {_library(jar.name) for jar in worker})
    port = choose_ports(_connect_ports(state_dir), CONNECT_PORTS)["rest"]
    (state_dir / "worker.properties").write_text(
        _worker_properties(state_dir, port, kafka_bootstrap(state_dir)), encoding="utf-8"
    )
    (state_dir / "log4j2.xml").write_text(_LOG4J2_XML, encoding="utf-8")


def _link_plugin(
    directory: Path, coordinates: Sequence[str], provided: set[tuple[str, str]]
) -> None:
    """Link the jars of one plugin into ``directory``, less the libraries the worker has.

    A plugin's class loader looks in its own jars first, yet sees the worker's
    ``META-INF/services`` too. Two copies of a library then meet: with jackson-databind in the
    plugin, the worker's Jackson modules (connect-json, the REST server) are "not a subtype" of
    the plugin's ``Module`` and Hibernate fails to start the sink's task. A library the worker
    already has in the same major version (which keeps its API) is therefore left out, so the
    plugin uses the worker's copy; another major version stays private to the plugin.
    """
    for link in maven.resolve(list(coordinates), directory):
        if _library(link.name) in provided:
            link.unlink()


_VERSIONED_JAR = re.compile(r"^(?P<artifact>.+?)-(?P<major>\d+)[^/]*\.jar$")


def _library(jar_name: str) -> tuple[str, str]:
    """``jackson-databind-2.19.2.jar`` -> ``("jackson-databind", "2")``."""
    match = _VERSIONED_JAR.match(jar_name)
    return (match.group("artifact"), match.group("major")) if match else (jar_name, "")


def connect_command(state_dir: Path) -> Sequence[str]:
    """``java ... ConnectDistributed worker.properties``."""
    return [
        java_executable(),
        *CONNECT_HEAP,
        *JVM_FLAGS,
        f"-Dlog4j2.configurationFile={state_dir / 'log4j2.xml'}",
        "-cp",
        str(state_dir / "lib" / "*"),
        "org.apache.kafka.connect.cli.ConnectDistributed",
        str(state_dir / "worker.properties"),
    ]


def _rest_url(state_dir: Path) -> str:
    return f"http://127.0.0.1:{read_port(_connect_ports(state_dir), 'rest')}"


def connect_ready(state_dir: Path) -> bool:
    """Whether ``GET /connector-plugins`` lists the JDBC sink connector."""
    import httpx

    response = httpx.get(f"{_rest_url(state_dir)}/connector-plugins", timeout=5)
    if response.status_code != 200:
        return False
    return any(plugin.get("class") == JDBC_SINK_CLASS for plugin in response.json())


def connect_env(state_dir: Path) -> Mapping[str, str]:
    return {"CONNECT_REST_URL": _rest_url(state_dir)}


def dev_services() -> list[DevService]:
    """``postgres`` and ``connect`` (after ``kafka`` and ``postgres``), for ``sluice dev up``."""
    return [
        DevService(
            name="postgres",
            prepare=postgres_prepare,
            command=postgres_command,
            ready=postgres_ready,
            env=postgres_env,
            start_timeout=60.0,
            # SIGTERM would wait for every client to disconnect; SIGINT is the fast shutdown
            stop_signal=signal.SIGINT,
        ),
        DevService(
            name="connect",
            prepare=connect_prepare,
            command=connect_command,
            ready=connect_ready,
            env=connect_env,
            after=(KAFKA_SERVICE, "postgres"),
            start_timeout=180.0,
        ),
    ]
