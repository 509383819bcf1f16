"""The runtime sections this plugin owns: ``runtime.kafka`` and ``runtime.schema_registry``.

Passwords are :class:`pydantic.SecretStr`: the core masks their values in every output, and
compiled artifacts never hold them (they name them with a ``{{secret:...}}`` marker instead).
"""

from __future__ import annotations

from typing import Literal
from urllib.parse import urlparse

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

SecurityProtocol = Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"]
SaslMechanism = Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512", "OAUTHBEARER", "GSSAPI"]
# mechanisms with a user name and password, where the principal is User:<sasl_username>
LOGIN_MECHANISMS = ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512")


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class KafkaConfig(_Section):
    """``runtime.kafka``: how to reach the cluster; passed to every tool that talks to it."""

    bootstrap_servers: str = Field(min_length=1)
    security_protocol: SecurityProtocol = "PLAINTEXT"
    sasl_mechanism: SaslMechanism | None = None
    sasl_username: str | None = None
    sasl_password: SecretStr | None = None
    ssl_ca_location: str | None = None
    ssl_certificate_location: str | None = None
    ssl_key_location: str | None = None
    ssl_key_password: SecretStr | None = None
    client_id: str = "sluice"
    # the principal the brokers see for these credentials; derived from sasl_username
    # (User:<name>) when not given, which fits PLAIN and SCRAM but not mTLS or OAuth
    principal: str | None = None
    # ACL bindings for sluice's own jobs and connectors: "auto" grants them when the project
    # declares access: somewhere (so its cluster has an authorizer), "always" or "never"
    own_acls: Literal["auto", "always", "never"] = "auto"

    @field_validator("bootstrap_servers")
    @classmethod
    def _host_ports(cls, value: str) -> str:
        for server in value.split(","):
            host, sep, port = server.strip().rpartition(":")
            if not sep or not host or not port.isdigit():
                raise ValueError(
                    f"'{server.strip()}' is not host:port; write e.g. broker1:9092,broker2:9092"
                )
        return value

    @model_validator(mode="after")
    def _sasl_is_complete(self) -> KafkaConfig:
        if self.security_protocol.startswith("SASL_") and self.sasl_mechanism is None:
            raise ValueError(f"security_protocol {self.security_protocol} needs sasl_mechanism")
        needs_login = self.sasl_mechanism in LOGIN_MECHANISMS
        if needs_login and (not self.sasl_username or self.sasl_password is None):
            raise ValueError(
                f"sasl_mechanism {self.sasl_mechanism} needs sasl_username and sasl_password"
            )
        if self.principal is not None and ":" not in self.principal:
            raise ValueError(f"principal '{self.principal}' is not a principal; write User:<name>")
        if self.own_acls == "always" and self.own_principal is None:
            raise ValueError(
                "own_acls: always needs to know sluice's principal: set principal: User:<name> "
                "(or sasl_mechanism PLAIN/SCRAM with sasl_username)"
            )
        return self

    @property
    def own_principal(self) -> str | None:
        """The principal sluice, its jobs and its connectors authenticate as, if known."""
        if self.principal is not None:
            return self.principal
        if self.sasl_mechanism in LOGIN_MECHANISMS and self.sasl_username:
            return f"User:{self.sasl_username}"
        return None


class SchemaRegistryConfig(_Section):
    """``runtime.schema_registry``: a Confluent-compatible Schema Registry."""

    url: str
    basic_auth_user: str | None = None
    basic_auth_password: SecretStr | None = None
    # deleting a subject sluice registered (prune, destroy): soft by default, so records
    # written with its schemas stay readable by id; true deletes it for good afterwards
    permanent_delete: bool = False

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        return http_url(value)


def http_url(value: str) -> str:
    """``value`` when it is an http(s) URL with a host; a ValueError that says so otherwise."""
    parsed = urlparse(value)
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        raise ValueError(f"'{value}' is not an http:// or https:// URL")
    return value.rstrip("/")


CompatibilityLevel = Literal[
    "NONE",
    "BACKWARD",
    "BACKWARD_TRANSITIVE",
    "FORWARD",
    "FORWARD_TRANSITIVE",
    "FULL",
    "FULL_TRANSITIVE",
]


class SchemaSettings(_Section):
    """A model's (or source's) ``schema:`` block: its registry subject's settings.

    ``compatibility`` is set on the value subject (and the key subject); unset, the registry's
    level stays as it is. ``file`` is a schema the project gives (``.avsc`` or JSON Schema),
    relative to the project directory, used instead of the one built from the columns.
    """

    compatibility: CompatibilityLevel | None = None
    file: str | None = Field(default=None, min_length=1)
