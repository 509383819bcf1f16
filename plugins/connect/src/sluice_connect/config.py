"""The sections this plugin owns: ``runtime.connect`` and a node's ``connector:`` block."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlparse

from pydantic import BaseModel, ConfigDict, Field, RootModel, SecretStr, field_validator

from sluice.project.schema import ConfigMap

# Short names for connector classes people use most.
SHORT_CLASSES = {
    "jdbc": "io.debezium.connector.jdbc.JdbcSinkConnector",
    "debezium-postgres": "io.debezium.connector.postgresql.PostgresConnector",
    "file": "org.apache.kafka.connect.file.FileStreamSinkConnector",
}


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class ConnectConfig(_Section):
    """``runtime.connect``: a Kafka Connect worker's REST API."""

    rest_url: str
    basic_auth_user: str | None = None
    basic_auth_password: SecretStr | None = None

    @field_validator("rest_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        parsed = urlparse(value)
        if parsed.scheme not in ("http", "https") or not parsed.netloc:
            raise ValueError(f"'{value}' is not an http:// or https:// URL")
        return value.rstrip("/")


class ConnectorConfig(_Section):
    """A ``connector:`` block: the class (or a short name), its config and its task count."""

    class_: str = Field(alias="class", min_length=1)
    config: ConfigMap = Field(default_factory=dict)
    tasks_max: Annotated[int, Field(ge=1)] = 1

    @property
    def is_short_name(self) -> bool:
        return "." not in self.class_

    def class_name(self) -> str | None:
        """The Java class: a full name as written, a short name resolved, None if unknown."""
        if not self.is_short_name:
            return self.class_
        return SHORT_CLASSES.get(self.class_)


class DeadLetterQueue(RootModel[Annotated[str, Field(pattern=r"^[A-Za-z0-9._-]{1,249}$")]]):
    """A sink model's ``dlq: <topic>``: records the connector cannot convert or write go to
    that topic (with the error in their headers) instead of stopping its task."""

    model_config = ConfigDict(frozen=True)

    @property
    def topic(self) -> str:
        return self.root
