"""The project sections this plugin owns: ``runtime.webhook`` and a model's ``webhook:``."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator


class WebhookRuntime(BaseModel):
    """``runtime.webhook``: where the relay registry keeps one JSON file per webhook."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    registry_dir: Path


class WebhookTarget(BaseModel):
    """A model's ``webhook:`` block: where its records go and which headers they carry."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    url: str
    headers: dict[str, str] = Field(default_factory=dict)

    @field_validator("url")
    @classmethod
    def _is_http_url(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(f"'{value}' is not an http(s) URL; write e.g. https://host/path")
        return value
