"""``runtime.redpanda`` (where the Admin API and Redpanda Connect answer, which users sluice
creates), a model's ``transform:`` block (which WebAssembly binary to deploy, with which
environment) and a sink's ``redpanda_connect:`` block (what its pipeline writes to)."""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal
from urllib.parse import urlparse

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    SecretStr,
    field_validator,
    model_validator,
)

# offered once runtime.redpanda is configured; the probe narrows them to what the cluster has
CAPABILITIES = ("transforms", "users", "redpanda_connect")
RESERVED_PREFIX = "SLUICE_"
_ENV_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# what Redpanda accepts as a SCRAM user name: no spaces, no commas, no '=' (SASL escapes them)
_USER_NAME = re.compile(r"^[A-Za-z0-9_.@-]+$")


def _brokers(value: Any) -> Any:
    # "a:9092,b:9092" as Kafka clients write it, or a YAML list
    if isinstance(value, str):
        return tuple(part.strip() for part in value.split(",") if part.strip())
    return value


def _http_url(value: str) -> str:
    parsed = urlparse(value)
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        raise ValueError(f"'{value}' is not an http:// or https:// URL")
    return value.rstrip("/")


class RedpandaConfig(BaseModel):
    """The Admin API (HTTP Basic with a SCRAM user when the cluster requires auth) and,
    optionally, a Redpanda Connect process in streams mode."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    admin_url: str
    user: str | None = None
    password: SecretStr | None = None
    connect_url: str | None = None
    # the cluster's Kafka API as Redpanda Connect reaches it; runtime.kafka's by default
    seed_brokers: Annotated[tuple[str, ...], BeforeValidator(_brokers)] = ()
    # principals of access: blocks that Redpanda lacks become SASL/SCRAM users
    create_users: bool = False
    users: dict[str, SecretStr] = Field(default_factory=dict)  # user -> ${VAR} password
    scram_mechanism: Literal["SCRAM-SHA-256", "SCRAM-SHA-512"] = "SCRAM-SHA-256"

    @field_validator("admin_url", "connect_url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        return _http_url(value) if value is not None else None

    @field_validator("users")
    @classmethod
    def _user_names(cls, value: dict[str, SecretStr]) -> dict[str, SecretStr]:
        for name, password in value.items():
            if not _USER_NAME.match(name):
                raise ValueError(f"'{name}' is not a user name Redpanda accepts")
            if not password.get_secret_value():
                raise ValueError(f"the password of user '{name}' is empty")
        return value

    @model_validator(mode="after")
    def _user_and_password(self) -> RedpandaConfig:
        if (self.user is None) != (self.password is None):
            raise ValueError("user and password go together (HTTP Basic auth of the Admin API)")
        if self.users and not self.create_users:
            raise ValueError(
                "users: holds the passwords of users sluice creates; set create_users: true as well"
            )
        return self


class TransformBlock(BaseModel):
    """A model's ``transform:``: the ``.wasm`` file (relative to the project) and its
    environment variables."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    wasm: str = Field(min_length=1)
    env: dict[str, str] = Field(default_factory=dict)

    @field_validator("env")
    @classmethod
    def _keys(cls, value: dict[str, str]) -> dict[str, str]:
        for key in value:
            if not _ENV_KEY.match(key):
                raise ValueError(f"environment key '{key}' is not a valid variable name")
            if key.upper().startswith(RESERVED_PREFIX):
                raise ValueError(
                    f"environment key '{key}': keys starting with {RESERVED_PREFIX} are "
                    "reserved by sluice (it records the project and the binary's hash there)"
                )
        return value


class RedpandaConnectBlock(BaseModel):
    """A sink's ``redpanda_connect:``: the pipeline's ``output`` (a Redpanda Connect output
    component, as its docs write it), optional ``pipeline`` and ``buffer`` sections, and
    ``input``: further settings of the ``redpanda`` input sluice builds from ``from:`` (for
    example ``start_offset``, ``sasl``, ``tls``). ``${VAR}`` stays as written until apply."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    output: dict[str, Any] = Field(min_length=1)
    pipeline: dict[str, Any] | None = None
    buffer: dict[str, Any] | None = None
    input: dict[str, Any] = Field(default_factory=dict)
