"""The WITH options of the Kafka tables a job reads and writes.

Connection settings come from ``runtime.kafka`` and ``runtime.schema_registry`` (owned by
sluice-kafka; read here by attribute, so this plugin does not import it). Secrets never appear
in the options: where Flink needs one, the value holds the marker ``{{secret:<section>.<key>}}``
(e.g. ``{{secret:kafka.sasl_password}}``), which the runner replaces with the real value when
it submits the job. Compiled files can therefore be shared and committed.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sluice.errors import Location, ProjectError

# The Flink SQL Kafka connector jar shades the Kafka client, login modules included.
_SHADED = "org.apache.flink.kafka.shaded."
_LOGIN_MODULES = {
    "PLAIN": "org.apache.kafka.common.security.plain.PlainLoginModule",
    "SCRAM-SHA-256": "org.apache.kafka.common.security.scram.ScramLoginModule",
    "SCRAM-SHA-512": "org.apache.kafka.common.security.scram.ScramLoginModule",
}
# So that one idle partition does not hold back the watermark (and every window) forever.
IDLE_TIMEOUT = "30 s"


def secret_marker(section: str, key: str) -> str:
    """The placeholder the runner swaps for the secret ``runtime.<section>.<key>``."""
    return "{{secret:" + f"{section}.{key}" + "}}"


def kafka_connection(runtime: Mapping[str, Any], location: Location) -> dict[str, str]:
    """``properties.*`` options that reach the cluster of ``runtime.kafka``."""
    kafka = runtime.get("kafka")
    if kafka is None:
        raise ProjectError(
            "Flink jobs read and write Kafka topics, but runtime.kafka is not configured",
            location=location,
            hint="add runtime.kafka.bootstrap_servers (pip install sluice-kafka)",
        )
    options = {"properties.bootstrap.servers": kafka.bootstrap_servers}
    protocol = getattr(kafka, "security_protocol", "PLAINTEXT")
    if protocol != "PLAINTEXT":
        options["properties.security.protocol"] = protocol
    mechanism = getattr(kafka, "sasl_mechanism", None)
    if mechanism:
        options["properties.sasl.mechanism"] = mechanism
        if mechanism in _LOGIN_MODULES:
            user = kafka.sasl_username.replace("\\", "\\\\").replace('"', '\\"')
            password = secret_marker("kafka", "sasl_password")
            options["properties.sasl.jaas.config"] = (
                f'{_SHADED}{_LOGIN_MODULES[mechanism]} required username="{user}" '
                f'password="{password}";'
            )
    if getattr(kafka, "ssl_ca_location", None):
        options["properties.ssl.truststore.type"] = "PEM"
        options["properties.ssl.truststore.location"] = kafka.ssl_ca_location
    if getattr(kafka, "ssl_certificate_location", None):
        # the Java client reads key and certificate chain from one PEM file
        options["properties.ssl.keystore.type"] = "PEM"
        options["properties.ssl.keystore.location"] = kafka.ssl_certificate_location
    if getattr(kafka, "ssl_key_password", None) is not None:
        options["properties.ssl.key.password"] = secret_marker("kafka", "ssl_key_password")
    return options


def format_options(
    fmt: str, runtime: Mapping[str, Any], location: Location, *, prefix: str = "", read: bool
) -> dict[str, str]:
    """The options of one format; ``prefix`` is ``key.`` or ``value.`` for keyed tables.

    A job reading a malformed JSON record fails rather than skip it (``read=True``): silently
    dropped records are worse than a visible failure.
    """
    if fmt == "json":
        options = {f"{prefix}format": "json"}
        if read:
            options[f"{prefix}json.ignore-parse-errors"] = "false"
        return options
    if fmt == "avro":
        registry = runtime.get("schema_registry")
        if registry is None:
            raise ProjectError(
                "format avro is read and written with the Schema Registry, but "
                "runtime.schema_registry is not configured",
                location=location,
                hint="add runtime.schema_registry.url",
            )
        options = {f"{prefix}format": "avro-confluent", f"{prefix}avro-confluent.url": registry.url}
        if getattr(registry, "basic_auth_user", None):
            password = secret_marker("schema_registry", "basic_auth_password")
            options[f"{prefix}avro-confluent.basic-auth.credentials-source"] = "USER_INFO"
            options[f"{prefix}avro-confluent.basic-auth.user-info"] = (
                f"{registry.basic_auth_user}:{password}"
            )
        return options
    if fmt in ("csv", "raw"):
        return {f"{prefix}format": fmt}
    raise ProjectError(
        f"format {fmt} is not supported in Flink jobs by sluice-flink",
        location=location,
        hint="use json or avro for topics that Flink jobs read or write",
    )
