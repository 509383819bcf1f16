"""The Kafka plugin's services for ``sluice dev up``: a KRaft broker and a schema registry.

Both are plain JVM processes started from artifacts that :mod:`sluice.devtools.maven` fetches
from Maven repositories (pinned below, cached outside the project, locked by SHA-256).

**kafka** is one Apache Kafka node that is broker and controller at once (KRaft). It has two
client listeners:

* ``PLAINTEXT`` (``KAFKA_BOOTSTRAP``) for everyday use. Its clients are ``User:ANONYMOUS``,
  a super user, so nothing on it needs an ACL.
* ``SASL_PLAINTEXT`` with the ``PLAIN`` mechanism (``KAFKA_SASL_BOOTSTRAP``) for testing ACLs.
  Its users are in :data:`SASL_USERS`; ``admin`` is a super user, ``alice`` and ``bob`` may do
  only what ACLs allow them (``StandardAuthorizer``). ``allow.everyone.if.no.acl.found`` is
  off, as on a real secured cluster: an ACL-less topic or group is closed to alice and bob, so
  a forgotten ACL shows up here and not only in production. The PLAINTEXT listener does not
  need the setting, since its principal is a super user anyway.

Topics survive ``down``/``up`` (the data directory stays in ``.sluice/dev/kafka/data``).

**schema-registry** is Apicurio Registry 3 with its default in-memory storage (H2): its
Confluent-compatible API is at ``SR_URL``. It forgets every schema when it stops.
"""

from __future__ import annotations

import base64
import subprocess
import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path

from sluice.devtools import maven
from sluice.devtools.jvm import java_executable
from sluice.devtools.ports import choose_ports, read_port
from sluice.errors import RemoteError
from sluice.plugin.api import DevService

KAFKA_VERSION = "4.1.1"
LOG4J_VERSION = "2.25.3"
# kafka_2.13 brings the broker, the controller and StorageTool; Kafka 4.1 logs through
# slf4j 1.7, so the log4j binding for slf4j 1.x goes with log4j-core.
KAFKA_ARTIFACTS = (
    f"org.apache.kafka:kafka_2.13:{KAFKA_VERSION}",
    f"org.apache.logging.log4j:log4j-core:{LOG4J_VERSION}",
    f"org.apache.logging.log4j:log4j-slf4j-impl:{LOG4J_VERSION}",
)
# 3.0.x is the newest line that runs on Java 17: 3.3.x is compiled for Java 21 (class file 65).
APICURIO_VERSION = "3.0.9"
# The runnable Quarkus assembly attached to the app: 3.0.x packs an uber "-runner" jar with
# lib/, 3.3.x the "fast-jar" layout (quarkus-run.jar, lib/, app/, quarkus/).
APICURIO_ARTIFACT = f"io.apicurio:apicurio-registry-app:{APICURIO_VERSION}:tar.gz:all"

SASL_USERS: Mapping[str, str] = {
    "admin": "admin-secret",
    "alice": "alice-secret",
    "bob": "bob-secret",
}
KAFKA_PORTS = {"plaintext": 9092, "controller": 9093, "sasl": 9094}
REGISTRY_PORTS = {"http": 8080}
KAFKA_HEAP = ("-Xms128m", "-Xmx512m")
REGISTRY_HEAP = ("-Xms64m", "-Xmx512m")
JVM_FLAGS = ("-XX:+UseG1GC", "-XX:+ExitOnOutOfMemoryError", "-Djava.awt.headless=true")

_LOG4J2_XML = """\
<?xml version="1.0" encoding="UTF-8"?>
<!-- written by sluice: Kafka logs to stdout, which sluice dev keeps in logs/kafka.log -->
<Configuration status="warn">
  <Appenders>
    <Console name="stdout" target="SYSTEM_OUT">
      <PatternLayout pattern="[%d{ISO8601}] %-5p %m (%c{1})%n"/>
    </Console>
  </Appenders>
  <Loggers>
    <Root level="INFO"><AppenderRef ref="stdout"/></Root>
    <Logger name="kafka.request.logger" level="WARN"/>
    <Logger name="state.change.logger" level="WARN"/>
    <Logger name="org.apache.kafka.raft" level="WARN"/>
    <Logger name="org.apache.kafka.coordinator" level="WARN"/>
    <!-- denied requests are logged at INFO: handy when an ACL test fails -->
    <Logger name="kafka.authorizer.logger" level="INFO"/>
  </Loggers>
</Configuration>
"""


# -- kafka -------------------------------------------------------------------------------


def _kafka_ports(state_dir: Path) -> Path:
    return state_dir / "ports.json"


def _server_properties(ports: Mapping[str, int], data_dir: Path) -> str:
    users = " ".join(f'user_{name}="{password}"' for name, password in SASL_USERS.items())
    jaas = (
        "org.apache.kafka.common.security.plain.PlainLoginModule required "
        f'username="admin" password="{SASL_USERS["admin"]}" {users};'
    )
    plain, sasl, controller = ports["plaintext"], ports["sasl"], ports["controller"]
    lines = [
        "# written by sluice (sluice-kafka dev service) on every start; edits are lost",
        "process.roles=broker,controller",
        "node.id=1",
        f"controller.quorum.voters=1@127.0.0.1:{controller}",
        f"listeners=PLAINTEXT://127.0.0.1:{plain},SASL_PLAINTEXT://127.0.0.1:{sasl},"
        f"CONTROLLER://127.0.0.1:{controller}",
        f"advertised.listeners=PLAINTEXT://localhost:{plain},SASL_PLAINTEXT://localhost:{sasl}",
        "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,SASL_PLAINTEXT:SASL_PLAINTEXT,"
        "CONTROLLER:PLAINTEXT",
        "controller.listener.names=CONTROLLER",
        "inter.broker.listener.name=PLAINTEXT",
        "sasl.enabled.mechanisms=PLAIN",
        "listener.name.sasl_plaintext.sasl.enabled.mechanisms=PLAIN",
        f"listener.name.sasl_plaintext.plain.sasl.jaas.config={jaas}",
        # KRaft's authorizer; the controller and PLAINTEXT listeners are User:ANONYMOUS
        "authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer",
        "super.users=User:admin;User:ANONYMOUS",
        "allow.everyone.if.no.acl.found=false",
        f"log.dirs={data_dir}",
        "num.partitions=1",
        "default.replication.factor=1",
        "offsets.topic.replication.factor=1",
        "transaction.state.log.replication.factor=1",
        "transaction.state.log.min.isr=1",
        "share.coordinator.state.topic.replication.factor=1",
        "share.coordinator.state.topic.min.isr=1",
        "group.initial.rebalance.delay.ms=0",
        "auto.create.topics.enable=true",
    ]
    return "\n".join(lines) + "\n"


def _new_cluster_id() -> str:
    """A random cluster id as Kafka writes them: 16 bytes, URL-safe base64 without padding."""
    return base64.urlsafe_b64encode(uuid.uuid4().bytes).rstrip(b"=").decode("ascii")


def _kafka_classpath(state_dir: Path) -> list[str]:
    """The JVM options that the broker and StorageTool share: logging and the class path."""
    return [
        f"-Dlog4j2.configurationFile={state_dir / 'log4j2.xml'}",
        "-cp",
        str(state_dir / "lib" / "*"),
    ]


def kafka_prepare(state_dir: Path) -> None:
    """Fetch the jars, pick the ports, write the configuration, format the storage once."""
    maven.resolve(list(KAFKA_ARTIFACTS), state_dir / "lib")
    ports = choose_ports(_kafka_ports(state_dir), KAFKA_PORTS)
    data_dir = state_dir / "data"
    (state_dir / "server.properties").write_text(
        _server_properties(ports, data_dir), encoding="utf-8"
    )
    (state_dir / "log4j2.xml").write_text(_LOG4J2_XML, encoding="utf-8")
    if (data_dir / "meta.properties").exists():
        return
    id_file = state_dir / "cluster-id"
    if not id_file.exists():
        id_file.write_text(_new_cluster_id() + "\n", encoding="utf-8")
    cluster_id = id_file.read_text(encoding="utf-8").strip()
    argv = [
        java_executable(),
        *_kafka_classpath(state_dir),
        "kafka.tools.StorageTool",
        "format",
        # one argument: a random id may start with "-", which argparse takes for an option
        f"--cluster-id={cluster_id}",
        "--config",
        str(state_dir / "server.properties"),
        "--ignore-formatted",
    ]
    done = subprocess.run(argv, capture_output=True, text=True, check=False, timeout=120)
    if done.returncode != 0:
        raise RemoteError(
            f"formatting the Kafka storage in {data_dir} failed (exit code {done.returncode}):\n"
            + (done.stdout + done.stderr).strip()[-2000:],
            hint=f"delete {state_dir} to start from scratch",
        )


def kafka_command(state_dir: Path) -> Sequence[str]:
    """``java ... kafka.Kafka server.properties``: one combined broker and controller."""
    return [
        java_executable(),
        *KAFKA_HEAP,
        *JVM_FLAGS,
        *_kafka_classpath(state_dir),
        "kafka.Kafka",
        str(state_dir / "server.properties"),
    ]


def kafka_ready(state_dir: Path) -> bool:
    """Whether this service's own broker answers a metadata request on its PLAINTEXT listener.

    The cluster id must be the one this state dir formatted: another broker that happens to
    listen on the port (another project's stack) must not pass for ours.
    """
    from confluent_kafka.admin import AdminClient

    port = read_port(_kafka_ports(state_dir), "plaintext")
    # log_level 0: no "connection refused" lines on stderr while the broker is starting
    admin = AdminClient({"bootstrap.servers": f"localhost:{port}", "log_level": 0})
    metadata = admin.list_topics(timeout=2)
    expected = (state_dir / "cluster-id").read_text(encoding="utf-8").strip()
    return bool(metadata.brokers) and metadata.cluster_id == expected


def kafka_env(state_dir: Path) -> Mapping[str, str]:
    ports = _kafka_ports(state_dir)
    return {
        "KAFKA_BOOTSTRAP": f"localhost:{read_port(ports, 'plaintext')}",
        "KAFKA_SASL_BOOTSTRAP": f"localhost:{read_port(ports, 'sasl')}",
    }


# -- schema registry ---------------------------------------------------------------------


def _registry_ports(state_dir: Path) -> Path:
    return state_dir / "ports.json"


def registry_prepare(state_dir: Path) -> None:
    """Fetch and unpack Apicurio Registry (linked as ``app/``) and pick its port."""
    maven.fetch_and_unpack(APICURIO_ARTIFACT, state_dir / "app")
    choose_ports(_registry_ports(state_dir), REGISTRY_PORTS)


def registry_command(state_dir: Path) -> Sequence[str]:
    port = read_port(_registry_ports(state_dir), "http")
    return [
        java_executable(),
        *REGISTRY_HEAP,
        *JVM_FLAGS,
        f"-Dquarkus.http.port={port}",
        "-Dquarkus.http.host=127.0.0.1",
        # in memory (these are Apicurio's defaults, spelt out): nothing outlives the process
        "-Dapicurio.storage.kind=sql",
        "-Dapicurio.storage.sql.kind=h2",
        "-jar",
        str(_registry_jar(state_dir / "app")),
    ]


def _registry_jar(app: Path) -> Path:
    """``quarkus-run.jar`` of a fast-jar layout, else the one ``*-runner.jar``."""
    fast = app / "quarkus-run.jar"
    if fast.is_file():
        return fast
    runners = sorted(app.glob("*-runner.jar"))
    if len(runners) != 1:
        raise RemoteError(
            f"{app} holds neither quarkus-run.jar nor exactly one *-runner.jar",
            hint=f"check the assembly {APICURIO_ARTIFACT}",
        )
    return runners[0]


def _registry_base(state_dir: Path) -> str:
    return f"http://localhost:{read_port(_registry_ports(state_dir), 'http')}"


def registry_ready(state_dir: Path) -> bool:
    """Whether the Confluent-compatible API lists subjects."""
    import httpx

    response = httpx.get(f"{_registry_base(state_dir)}/apis/ccompat/v7/subjects", timeout=2)
    return response.status_code == 200


def registry_env(state_dir: Path) -> Mapping[str, str]:
    return {"SR_URL": f"{_registry_base(state_dir)}/apis/ccompat/v7"}


def dev_services() -> list[DevService]:
    """``kafka`` and ``schema-registry``, as ``sluice dev up`` wants them."""
    return [
        DevService(
            name="kafka",
            prepare=kafka_prepare,
            command=kafka_command,
            ready=kafka_ready,
            env=kafka_env,
            start_timeout=90.0,
        ),
        DevService(
            name="schema-registry",
            prepare=registry_prepare,
            command=registry_command,
            ready=registry_ready,
            env=registry_env,
            start_timeout=120.0,
        ),
    ]
