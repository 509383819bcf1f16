"""The project-format reference, generated from the pydantic models so it cannot drift.

``python -m sluice.reference > docs/project-format.md`` regenerates it; a test fails when the
committed file differs from what the models say.
"""

from __future__ import annotations

import types
import typing
from typing import Any

from pydantic import BaseModel
from pydantic_core import PydanticUndefined

from sluice.project import schema

SECTIONS: list[tuple[str, type[BaseModel], str]] = [
    ("project", schema.ProjectInfo, "Name and version of the project."),
    ("defaults.topic", schema.TopicDefaults, "Topic settings every model topic starts from."),
    ("governance.topics", schema.TopicRules, "Rules for the topics models create."),
    ("governance.models", schema.ModelRules, "Rules every model must follow."),
    ("governance.security", schema.SecurityRules, "Classification and masking rules."),
    (
        "sources[]",
        schema.Source,
        "Topics that exist already; sluice reads them, never changes them.",
    ),
    ("models[]", schema.Model, "What sluice builds: topics, Flink jobs, sinks, virtual topics."),
    ("models[].topic", schema.TopicSpec, "The model's topic."),
    (
        "models[].access, sources[].access",
        schema.Access,
        "Who may read or write the topic. A reader is `User:<name>` or a mapping (next "
        "section); sluice-kafka makes ACL bindings of them (docs/security.md).",
    ),
    (
        "access.read[] as a mapping",
        schema.Reader,
        "A reader and the prefix of the consumer groups it may use.",
    ),
    ("models[].mask.<column>", schema.MaskRule, "How a column is masked."),
    ("columns[]", schema.Column, "A column of a source or model."),
    ("event_time", schema.EventTime, "The event-time column and its watermark delay."),
    ("tests[]", schema.DataTest, "Data tests on a model or source."),
    (
        "tests[].sample",
        schema.Sample,
        "How a sample test reads records. A continuous test uses `window` (the violations "
        "`sluice test` reads) and `timeout` (how long reading may take).",
    ),
    ("exposures[]", schema.Exposure, "Who uses the data downstream."),
    ("environments/<env>.yml", schema.Environment, "Per-environment overrides and safety."),
]


def _type_text(annotation: Any) -> str:
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _type_text(typing.get_args(annotation)[0])
    if origin is typing.Literal:
        return " \\| ".join(f"`{a}`" for a in typing.get_args(annotation))
    if origin in (types.UnionType, typing.Union):
        parts = [_type_text(a) for a in typing.get_args(annotation) if a is not type(None)]
        return " \\| ".join(parts)
    if origin in (list, tuple):
        args = [a for a in typing.get_args(annotation) if a is not Ellipsis]
        return f"list of {_type_text(args[0])}" if args else "list"
    if origin is dict:
        _key, value = typing.get_args(annotation)
        return f"mapping of {_type_text(value)}"
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return "mapping"
    return getattr(annotation, "__name__", str(annotation))


def _default_text(info: Any) -> str:
    if info.is_required():
        return "required"
    if info.default_factory is not None:
        return "empty"
    if info.default is None or info.default is PydanticUndefined:
        return "-"
    return f"`{info.default!s}`".replace("`True`", "`true`").replace("`False`", "`false`")


def render_reference() -> str:
    lines = [
        "# Project format reference",
        "",
        "Generated from sluice's pydantic models by `python -m sluice.reference`; do not edit.",
        "Every key not listed here is an error, except the blocks that installed plugins own",
        "(`runtime.<section>` and per-node blocks such as a model's `flink:` or `connector:`);",
        "`sluice plugins` lists them.",
        "",
        "Assertions of `tests[].assertions` are one-key mappings:",
        "",
    ]
    for kind, assertion in schema.ASSERTIONS.items():
        keys = ", ".join(f"`{(f.alias or n)}`" for n, f in assertion.model_fields.items())
        lines.append(f"- `{kind}`: {keys}")
    for path, model, summary in SECTIONS:
        lines += [
            "",
            f"## `{path}`",
            "",
            summary,
            "",
            "| key | type | default |",
            "| --- | --- | --- |",
        ]
        lines += key_table(model)
    return "\n".join(lines) + "\n"


def key_table(model: type[BaseModel]) -> list[str]:
    """The rows of a ``| key | type | default |`` table of ``model``'s keys."""
    rows = []
    for name, info in model.model_fields.items():
        if info.exclude:
            continue
        rows.append(
            f"| `{info.alias or name}` | {_type_text(info.annotation)} | {_default_text(info)} |"
        )
    return rows


if __name__ == "__main__":
    print(render_reference(), end="")
