"""Turning pydantic's validation errors into sluice errors that point into the YAML."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from sluice.errors import Location, ProjectError, did_you_mean
from sluice.project.yamlfile import YamlDocument, YamlPath

M = TypeVar("M", bound=BaseModel)


def field_names(model: type[BaseModel]) -> list[str]:
    names = []
    for name, info in model.model_fields.items():
        if info.exclude:
            continue
        names.append(info.alias or name)
    return names


def validate(
    model: type[M], data: Any, doc: YamlDocument, path: YamlPath, what: str
) -> tuple[M | None, list[ProjectError]]:
    """Validate ``data`` (found at ``path`` of ``doc``) as ``model``; errors carry locations."""
    try:
        return model.model_validate(data), []
    except ValidationError as exc:
        errors = exc.errors()
    # a misspelt required key is one mistake: report the unknown key and its suggestion only
    misspelt = set()
    for error in errors:
        if error["type"] == "extra_forbidden":
            loc = tuple(error["loc"])
            owner = _model_at(model, loc[:-1])
            match = did_you_mean(str(loc[-1]), field_names(owner) if owner else [])
            if match:
                misspelt.add((*loc[:-1], match.split("'")[1]))
    return None, [
        _convert(error, model, doc, path, what)
        for error in errors
        if not (error["type"] == "missing" and tuple(error["loc"]) in misspelt)
    ]


def _model_at(model: type[BaseModel], loc: Iterable[Any]) -> type[BaseModel] | None:
    """The pydantic model that owns the last key of ``loc`` (for did-you-mean hints)."""
    current: Any = model
    for part in loc:
        if isinstance(part, int) or not (
            isinstance(current, type) and issubclass(current, BaseModel)
        ):
            continue
        fields = {(f.alias or n): f for n, f in current.model_fields.items()}
        info = fields.get(part)
        if info is None:
            return None
        annotation = info.annotation
        current = _inner_model(annotation)
    return current if isinstance(current, type) and issubclass(current, BaseModel) else None


def _inner_model(annotation: Any) -> Any:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in getattr(annotation, "__args__", ()):
        found = _inner_model(arg)
        if found is not None:
            return found
    return None


def _convert(
    error: Any, model: type[BaseModel], doc: YamlDocument, base: YamlPath, what: str
) -> ProjectError:
    loc = tuple(p for p in error["loc"] if isinstance(p, (str, int)))
    dotted = ".".join(str(p) for p in loc)
    kind = error["type"]
    if kind == "extra_forbidden":
        key = str(loc[-1])
        owner = _model_at(model, loc[:-1])
        allowed = field_names(owner) if owner else []
        hint = did_you_mean(key, allowed)
        if not hint and allowed:
            hint = "allowed keys here: " + ", ".join(sorted(allowed))
        where = f" in {what}" if len(loc) == 1 else f" in {what} ({'.'.join(map(str, loc[:-1]))})"
        location = doc.locate((*base, *loc, "__key__"))
        return ProjectError(f"unknown key '{key}'{where}", location=location, hint=hint)
    if kind == "missing":
        location = doc.locate((*base, *loc[:-1]))
        return ProjectError(
            f"{what} is missing the required key '{dotted}'",
            location=location,
            hint=f"add '{loc[-1]}:' to it",
        )
    message = error["msg"]
    if message.startswith("Value error, "):
        message = message[len("Value error, ") :]
    if kind == "literal_error":
        expected = error.get("ctx", {}).get("expected", "")
        message = f"'{error['input']}' is not allowed; expected {expected}"
    if kind == "string_pattern_mismatch":
        message = f"'{error['input']}' does not match the pattern {error['ctx']['pattern']}"
    return ProjectError(
        f"{what}: {dotted}: {message}" if dotted else f"{what}: {message}",
        location=doc.locate((*base, *loc)),
    )


def location_of(doc: YamlDocument, path: YamlPath, key: bool = False) -> Location:
    return doc.locate((*path, "__key__") if key else path)
