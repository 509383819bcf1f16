"""A small client of the Confluent Schema Registry API (Confluent, Apicurio's ccompat, Karapace).

Only what sluice needs: subjects and their latest version, compatibility checks, per-subject
compatibility levels, registering, deleting. A refusal or an unreachable registry is a
:class:`~sluice.errors.RemoteError` naming the request and what the registry said.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx

from sluice.errors import RemoteError
from sluice_kafka.config import SchemaRegistryConfig

CONTENT_TYPE = "application/vnd.schemaregistry.v1+json"
# unknown subject or version, and (Confluent, Apicurio) a subject already soft-deleted
SUBJECT_NOT_FOUND = (40401, 40402, 40404)
NO_SUBJECT_LEVEL = 40408  # Confluent: the subject has no level of its own


@dataclass(frozen=True)
class Registered:
    """The latest version of a subject."""

    subject: str
    version: int
    id: int
    schema: str
    schema_type: str  # AVRO, JSON or PROTOBUF


@dataclass(frozen=True)
class Verdict:
    compatible: bool
    messages: tuple[str, ...] = ()


class RegistryClient:
    def __init__(self, config: SchemaRegistryConfig, timeout: float = 10.0) -> None:
        auth = None
        if config.basic_auth_user and config.basic_auth_password is not None:
            auth = (config.basic_auth_user, config.basic_auth_password.get_secret_value())
        self.url = config.url
        self.permanent_delete = config.permanent_delete
        self._http = httpx.Client(
            base_url=config.url,
            auth=auth,
            timeout=timeout,
            headers={"Content-Type": CONTENT_TYPE, "Accept": CONTENT_TYPE},
        )

    def close(self) -> None:
        self._http.close()

    def subjects(self) -> list[str]:
        return list(self._call("GET", "/subjects"))

    def versions(self, subject: str) -> list[int]:
        """The subject's versions, empty when it does not exist."""
        return list(self._call("GET", f"/subjects/{subject}/versions", missing=[]))

    def latest(self, subject: str) -> Registered | None:
        """The subject's latest version, or None when the subject does not exist."""
        data = self._call("GET", f"/subjects/{subject}/versions/latest", missing=None)
        if data is None:
            return None
        return Registered(
            subject,
            int(data["version"]),
            int(data["id"]),
            data["schema"],
            data.get("schemaType") or "AVRO",
        )

    def check(self, subject: str, schema: str, schema_type: str) -> Verdict:
        """Whether ``schema`` may follow the subject's latest version, at the subject's level."""
        data = self._call(
            "POST",
            f"/compatibility/subjects/{subject}/versions/latest",
            body=_schema_body(schema, schema_type),
            params={"verbose": "true"},
        )
        return Verdict(bool(data.get("is_compatible")), tuple(data.get("messages") or ()))

    def compatibility(self, subject: str) -> str | None:
        """The subject's compatibility level (the registry may fall back to its global one);
        None when the subject has neither a level nor any version."""
        data = self._call(
            "GET", f"/config/{subject}", missing=None, params={"defaultToGlobal": "true"}
        )
        if data is None:
            return None
        return data.get("compatibilityLevel") or data.get("compatibility")

    def register(self, subject: str, schema: str, schema_type: str) -> int:
        """Register ``schema`` (a no-op returning the same id when it is already the latest)."""
        data = self._call(
            "POST", f"/subjects/{subject}/versions", body=_schema_body(schema, schema_type)
        )
        return int(data["id"])

    def set_compatibility(self, subject: str, level: str) -> None:
        self._call("PUT", f"/config/{subject}", body={"compatibility": level})

    def clear_compatibility(self, subject: str) -> None:
        """Drop the subject's own level (the registry's global one applies again)."""
        self._call("DELETE", f"/config/{subject}", missing=None)

    def delete_subject(self, subject: str, permanent: bool = False) -> list[int] | None:
        """Soft-delete the subject (its versions stay readable by schema id), or, after that,
        delete it for good; the versions deleted, or None when there was nothing to delete."""
        params = {"permanent": "true"} if permanent else None
        data = self._call("DELETE", f"/subjects/{subject}", params=params, missing=None)
        return None if data is None else [int(v) for v in data]

    def _call(
        self,
        method: str,
        path: str,
        *,
        body: Any = None,
        params: dict[str, str] | None = None,
        missing: Any = ...,
    ) -> Any:
        """The JSON answer; ``missing`` (when given) is returned for an unknown subject."""
        what = f"{method} {self.url}{path}"
        try:
            response = self._http.request(method, path, json=body, params=params)
        except httpx.HTTPError as exc:
            raise RemoteError(
                f"schema registry: {what} failed: {exc}",
                hint="check runtime.schema_registry.url and that the registry is running",
            ) from exc
        unknown = _error_code(response) in (*SUBJECT_NOT_FOUND, NO_SUBJECT_LEVEL, None)
        if response.status_code == 404 and missing is not ... and unknown:
            return missing
        if response.status_code >= 400:
            raise RemoteError(
                f"schema registry: {what} answered {response.status_code}: {_message(response)}",
                hint=_hint(response.status_code),
            )
        try:
            return response.json()
        except ValueError as exc:
            raise RemoteError(f"schema registry: {what} answered with no JSON") from exc


def _schema_body(schema: str, schema_type: str) -> dict[str, Any]:
    body: dict[str, Any] = {"schema": schema}
    if schema_type != "AVRO":  # Confluent's default; older registries reject the key for it
        body["schemaType"] = schema_type
    return body


def _error_code(response: httpx.Response) -> int | None:
    try:
        code = response.json().get("error_code")
    except (ValueError, AttributeError):
        return None
    return int(code) if isinstance(code, int) else None


def _message(response: httpx.Response) -> str:
    try:
        data = response.json()
    except ValueError:
        return response.text[:300] or response.reason_phrase
    if isinstance(data, dict) and data.get("message"):
        return str(data["message"])
    return response.text[:300]


def _hint(status: int) -> str | None:
    if status in (401, 403):
        return "check runtime.schema_registry.basic_auth_user and basic_auth_password"
    if status == 409:
        return "the schema breaks the subject's compatibility level; run sluice plan to see which field"
    if status == 422:
        return "the registry could not parse the schema: check the model's schema file"
    return None
