"""``runtime.conduktor``: where the Gateway's admin API, its Kafka endpoint and Console are."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlparse

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

CAPABILITIES = ("virtual_topics", "masking", "rbac", "runtime_lineage")


def _http_url(value: str) -> str:
    parsed = urlparse(value)
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        raise ValueError(f"'{value}' is not an http:// or https:// URL")
    return value.rstrip("/")


class ConduktorConfig(BaseModel):
    """The Gateway admin API (HTTP Basic) and, optionally, Console's public API (Bearer key)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    proxy_url: str
    proxy_bootstrap: str | None = None
    proxy_user: str = "admin"
    proxy_password: SecretStr | None = None
    virtual_cluster: Annotated[str, Field(pattern=r"^[a-zA-Z0-9_-]+$")] | None = None
    console_url: str | None = None
    api_key: SecretStr | None = None
    # the Kafka cluster as Console names it (default: the only one Console has), and the Console
    # group that owns the self-service Application access: declarations become
    console_cluster: Annotated[str, Field(min_length=1)] | None = None
    application_owner: Annotated[str, Field(min_length=1)] | None = None

    @field_validator("proxy_url", "console_url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        return _http_url(value) if value is not None else None

    @model_validator(mode="after")
    def _console_needs_key(self) -> ConduktorConfig:
        if self.console_url is not None and self.api_key is None:
            raise ValueError("console_url needs api_key (a Console API key, sent as Bearer)")
        return self

    @property
    def console_api(self) -> str | None:
        """Console's public API base: ``<console_url>/api`` (the CLI and Terraform add it too)."""
        if self.console_url is None:
            return None
        return self.console_url if self.console_url.endswith("/api") else self.console_url + "/api"
