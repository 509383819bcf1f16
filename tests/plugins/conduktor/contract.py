"""Checks HTTP exchanges against Conduktor's published OpenAPI documents.

``Contract(path, prefix)`` loads one document (../shared/contracts/conduktor/*.openapi.yaml);
``check_request`` and ``check_response`` return the list of ways an exchange departs from it:
an undocumented path or method, a path or query parameter that is unknown or outside its schema
(type, pattern), a missing or non-conforming JSON body, an undocumented status, a response
body outside its schema.

One deliberate deviation, because the Gateway's document cannot be satisfied as published: its
``UpsertResult`` is a ``oneOf`` of three empty ``type: object`` schemas (a Scala coproduct
rendered by the generator), which no value can match (an object matches all three, a string
none), while the document's own examples answer ``"upsertResult": "CREATED"``. It is checked as a
string naming one of the three results instead. Console's ``UpsertResult`` is a plain enum
(``Created``, ``Updated``, ``NotChanged``) and is checked as published.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

REPO = Path(__file__).resolve().parents[3]
CONTRACTS = REPO.parent / "shared" / "contracts" / "conduktor"
GATEWAY_CONTRACT = CONTRACTS / "gateway-api-v2.openapi.yaml"
CONSOLE_CONTRACT = CONTRACTS / "console-api.openapi.yaml"
UPSERT_RESULT = {
    "type": "string",
    "pattern": "^(?i:created|updated|not_?changed)$",
}


def _pointer(*parts: str) -> str:
    return "/".join(p.replace("~", "~0").replace("/", "~1") for p in parts)


@dataclass
class Contract:
    path: Path
    prefix: str = ""  # a base path the document leaves out (Console's /api)
    document: dict[str, Any] = field(init=False)
    _routes: list[tuple[re.Pattern[str], str]] = field(init=False)

    def __post_init__(self) -> None:
        # libyaml's loader when present: Console's document is 19,000 lines
        loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
        self.document = yaml.load(self.path.read_text(encoding="utf-8"), Loader=loader)
        schemas = self.document.setdefault("components", {}).setdefault("schemas", {})
        if "oneOf" in schemas.get("UpsertResult", {}):
            schemas["UpsertResult"] = UPSERT_RESULT
        self._uri = f"urn:contract:{self.path.name}"
        resource = Resource.from_contents(self.document, default_specification=DRAFT202012)
        self._registry: Registry[Any] = Registry().with_resource(self._uri, resource)
        self._routes = []
        for template in self.document["paths"]:
            pattern = "([^/]+)".join(re.escape(p) for p in re.split(r"\{[^}]+\}", template))
            self._routes.append((re.compile(f"^{pattern}$"), template))
        # literal paths win over templated ones (/interceptor/resolve before /interceptor/{name})
        self._routes.sort(key=lambda r: r[1].count("{"))

    def _validate(self, pointer: str, value: Any) -> list[str]:
        validator = Draft202012Validator(
            {"$ref": f"{self._uri}#/{pointer}"}, registry=self._registry
        )
        return [
            f"{'/'.join(str(p) for p in e.absolute_path) or '(body)'}: {e.message}"
            for e in validator.iter_errors(value)
        ]

    def operation(self, method: str, path: str) -> tuple[str, dict[str, Any]] | None:
        found = self._match(method, path)
        return (found[0], found[1]) if found else None

    def _match(self, method: str, path: str) -> tuple[str, dict[str, Any], dict[str, str]] | None:
        """(template, operation, path parameters) of a request."""
        if not path.startswith(self.prefix):
            return None
        path = path[len(self.prefix) :]
        for pattern, template in self._routes:
            matched = pattern.match(path)
            if matched:
                operation = self.document["paths"][template].get(method.lower())
                if operation is not None:
                    names = re.findall(r"\{([^}]+)\}", template)
                    return template, operation, dict(zip(names, matched.groups(), strict=True))
        return None

    def _parameter(self, where: str, name: str, spec: Mapping[str, Any], value: str) -> list[str]:
        """A path or query parameter's value (always text on the wire) against its schema."""
        schema = spec.get("schema") or {}
        kind = schema.get("type")
        if kind == "boolean" and value not in ("true", "false"):
            return [f"{where} parameter '{name}={value}' is not a boolean"]
        if kind == "integer" and not re.fullmatch(r"-?[0-9]+", value):
            return [f"{where} parameter '{name}={value}' is not an integer"]
        if kind == "string" and Draft202012Validator(schema).is_valid(value) is False:
            return [f"{where} parameter '{name}={value}' does not match {schema}"]
        return []

    def check_request(
        self, method: str, path: str, query: Mapping[str, list[str]], body: bytes | None
    ) -> list[str]:
        found = self._match(method, path)
        if found is None:
            return [f"{method} {path} is not in {self.path.name}"]
        template, operation, in_path = found
        problems = []
        declared = operation.get("parameters", [])
        for spec in declared:
            if spec["in"] == "path" and spec["name"] in in_path:
                problems += self._parameter("path", spec["name"], spec, in_path[spec["name"]])
        params = {p["name"]: p for p in declared if p["in"] == "query"}
        for name, values in query.items():
            if name not in params:
                problems.append(f"query parameter '{name}' is not documented")
                continue
            for value in values:
                problems += self._parameter("query", name, params[name], value)
        request_body = operation.get("requestBody")
        if request_body is None:
            if body:
                problems.append("a body was sent where the operation takes none")
            return problems
        if not body:
            if request_body.get("required"):
                problems.append("the required JSON body is missing")
            return problems
        try:
            data = json.loads(body)
        except ValueError:
            return [*problems, "the body is not JSON"]
        pointer = _pointer(
            "paths", template, method.lower(), "requestBody", "content", "application/json"
        )
        return problems + self._validate(pointer + "/schema", data)

    def check_response(
        self, method: str, path: str, status: int, content_type: str, body: bytes
    ) -> list[str]:
        found = self.operation(method, path)
        if found is None:
            return [f"{method} {path} is not in {self.path.name}"]
        template, operation = found
        responses = operation.get("responses", {})
        if str(status) not in responses:
            return [f"status {status} is not documented for {method} {template}"]
        content = responses[str(status)].get("content")
        if not content:
            return ["a body was returned where the response has none"] if body else []
        if "application/json" not in content:
            return []
        if not content_type.startswith("application/json"):
            return [f"the response is {content_type or 'untyped'}, not application/json"]
        try:
            data = json.loads(body)
        except ValueError:
            return ["the response body is not JSON"]
        pointer = _pointer(
            "paths",
            template,
            method.lower(),
            "responses",
            str(status),
            "content",
            "application/json",
        )
        return self._validate(pointer + "/schema", data)
