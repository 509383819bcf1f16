"""The sections this plugin owns: ``runtime.flink`` and a model's ``flink:`` block."""

from __future__ import annotations

from typing import Annotated, Literal
from urllib.parse import urlparse

from pydantic import BaseModel, ConfigDict, Field, field_validator

from sluice.project.schema import ConfigMap, Duration, parse_duration_ms

Upgrade = Literal["savepoint", "stateless", "fail"]
# What a job's Kafka sink promises: at-least-once writes at once (a restart may repeat records);
# exactly-once writes in transactions committed on each checkpoint, so readers that read
# committed records only see each record once, a checkpoint interval later.
Delivery = Literal["at-least-once", "exactly-once"]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def http_url(value: str) -> str:
    """``value`` when it is an http(s) URL with a host; a ValueError that says so otherwise."""
    parsed = urlparse(value)
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        raise ValueError(f"'{value}' is not an http:// or https:// URL")
    return value.rstrip("/")


class FlinkConfig(_Section):
    """``runtime.flink``: the session cluster's REST API (and optionally its SQL Gateway)."""

    rest_url: str
    sql_gateway_url: str | None = None
    savepoint_dir: str | None = None
    parallelism: Annotated[int, Field(ge=1)] | None = None
    # Kafka sources commit their offsets on checkpoints: without them a job restarted without
    # a savepoint ("upgrade: stateless") would read its inputs again from the start
    checkpoint_interval: Duration = "10s"
    delivery: Delivery = "at-least-once"  # the default of every job's sink
    # functions the cluster has besides Flink's built-ins (from a catalog or a loaded module),
    # which models may call: any other name is a compile error
    functions: tuple[Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")], ...] = ()

    @field_validator("checkpoint_interval")
    @classmethod
    def _is_duration(cls, value: str) -> str:
        parse_duration_ms(value)
        return value

    @field_validator("rest_url", "sql_gateway_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        return http_url(value) if value is not None else None


class FlinkModelConfig(_Section):
    """A model's ``flink:`` block: how its job runs and how it is upgraded."""

    parallelism: Annotated[int, Field(ge=1)] | None = None
    upgrade: Upgrade = "savepoint"
    delivery: Delivery | None = None  # runtime.flink.delivery when not set
    state_ttl: Duration | None = None
    config: ConfigMap = Field(default_factory=dict)  # extra `SET 'key' = 'value'` options

    @field_validator("state_ttl")
    @classmethod
    def _is_duration(cls, value: str | None) -> str | None:
        if value is not None:
            parse_duration_ms(value)
        return value
