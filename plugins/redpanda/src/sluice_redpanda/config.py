"""``runtime.redpanda`` (where the Admin API and Redpanda Connect answer) and a model's
``transform:`` block (which WebAssembly binary to deploy, with which environment)."""

from __future__ import annotations

import re
from urllib.parse import urlparse

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

# offered once runtime.redpanda is configured; the probe narrows them to what the cluster has
CAPABILITIES = ("transforms", "users")
RESERVED_PREFIX = "SLUICE_"
_ENV_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


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

    @field_validator("admin_url", "connect_url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        return _http_url(value) if value is not None else None

    @model_validator(mode="after")
    def _user_and_password(self) -> RedpandaConfig:
        if (self.user is None) != (self.password is None):
            raise ValueError("user and password go together (HTTP Basic auth of the Admin API)")
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
