"""The project format as pydantic models: frozen values, and every unknown key is an error.

These models describe what the core understands. Sections owned by plugins (``runtime.<x>`` and
per-node blocks such as a model's ``flink:``) are validated by the models the plugins register
and kept in ``runtime`` / ``extensions``.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

NAME_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]*$"
_DURATION = re.compile(r"^\s*(\d+)\s*(ms|s|m|min|h|d)\s*$")


class Strict(BaseModel):
    """Base of every project model: immutable, and unknown keys are refused."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


def _as_list(value: Any) -> Any:
    return [value] if isinstance(value, str) else value


def _as_config_text(value: Any) -> Any:
    # Kafka/Connect configs are strings on the wire; YAML may give numbers and bools. Anything
    # else (a list, a mapping, null) is left for validation to refuse, never sent as its repr.
    if isinstance(value, dict):
        return {k: _config_text(v) for k, v in value.items()}
    return value


def _config_text(value: Any) -> Any:
    if isinstance(value, bool):
        return str(value).lower()
    return str(value) if isinstance(value, (int, float)) else value


Name = Annotated[str, Field(pattern=NAME_PATTERN, max_length=200)]
NameList = Annotated[tuple[str, ...], BeforeValidator(_as_list)]
ConfigMap = Annotated[dict[str, str], BeforeValidator(_as_config_text)]


def parse_duration_ms(text: str) -> int:
    """``5s`` -> 5000. Units: ms, s, m/min, h, d."""
    match = _DURATION.match(text)
    if not match:
        raise ValueError(f"'{text}' is not a duration; write e.g. 500ms, 5s, 10m, 1h or 7d")
    factor = {"ms": 1, "s": 1000, "m": 60_000, "min": 60_000, "h": 3_600_000, "d": 86_400_000}
    return int(match.group(1)) * factor[match.group(2)]


Duration = Annotated[str, BeforeValidator(lambda v: str(v) if isinstance(v, int) else v)]


class ProjectInfo(Strict):
    name: Annotated[str, Field(pattern=r"^[a-z][a-z0-9_-]*$", max_length=100)]
    version: str = "0.0.0"
    description: str | None = None


class TopicDefaults(Strict):
    partitions: Annotated[int, Field(ge=1)] | None = None
    replication_factor: Annotated[int, Field(ge=1)] | None = None
    config: ConfigMap = Field(default_factory=dict)


class TopicSpec(TopicDefaults):
    name: Annotated[str, Field(pattern=r"^[A-Za-z0-9._-]{1,249}$")] | None = None


class Defaults(Strict):
    topic: TopicDefaults = Field(default_factory=TopicDefaults)


class TopicRules(Strict):
    naming_pattern: str | None = None
    min_partitions: Annotated[int, Field(ge=1)] | None = None
    max_partitions: Annotated[int, Field(ge=1)] | None = None

    @field_validator("naming_pattern")
    @classmethod
    def _compiles(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                re.compile(value)
            except re.error as exc:
                raise ValueError(f"not a valid regular expression: {exc}") from None
        return value


class ModelRules(Strict):
    require_description: bool = False
    require_owner: bool = False
    require_tests: bool = False


class SecurityRules(Strict):
    require_classification: bool = False
    sensitive_columns_require_masking: bool = False


class Governance(Strict):
    topics: TopicRules = Field(default_factory=TopicRules)
    models: ModelRules = Field(default_factory=ModelRules)
    security: SecurityRules = Field(default_factory=SecurityRules)


Classification = Literal["public", "internal", "confidential", "sensitive", "restricted", "pii"]


class Column(Strict):
    name: Annotated[str, Field(min_length=1)]
    type: str | None = None
    description: str | None = None
    classification: Classification | None = None
    tags: NameList = ()


class EventTime(Strict):
    column: str
    watermark: Duration = "0s"

    @field_validator("watermark")
    @classmethod
    def _is_duration(cls, value: str) -> str:
        parse_duration_ms(value)
        return value


class Reader(Strict):
    """A reader written as a mapping: its principal and the prefix of its consumer groups."""

    principal: str
    group_prefix: Annotated[str, Field(min_length=1)]


def _reader(item: dict[str, Any], number: int) -> Reader:
    """The mapping form of a reader, or a ValueError naming the item (the model's own error
    would point at a key that is not in the file)."""
    unknown = sorted(set(item) - set(Reader.model_fields))
    if unknown:
        raise ValueError(
            f"read item {number}: unknown key '{unknown[0]}'; a reader has "
            "principal: and group_prefix:"
        )
    try:
        return Reader.model_validate(item)
    except ValidationError as exc:
        problem = exc.errors()[0]
        where = ".".join(str(part) for part in problem["loc"])
        raise ValueError(f"read item {number}: {where}: {problem['msg']}") from None


class Access(Strict):
    """Who may read and write a topic.

    A reader is ``User:<name>``, or ``{principal: User:<name>, group_prefix: <prefix>}`` to
    name the consumer groups it may use; either way ``read`` holds the principals (what
    plugins read) and ``group_prefixes`` the prefixes given for some of them.
    """

    read: NameList = ()
    write: NameList = ()
    group_prefixes: dict[str, Annotated[str, Field(min_length=1)]] = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _readers_as_principals(cls, data: Any) -> Any:
        if not isinstance(data, dict) or not isinstance(data.get("read"), list | dict):
            return data
        items = data["read"] if isinstance(data["read"], list) else [data["read"]]
        principals: list[Any] = []
        prefixes = dict(data.get("group_prefixes") or {})
        for number, item in enumerate(items, 1):
            if isinstance(item, dict):
                reader = _reader(item, number)
                principals.append(reader.principal)
                prefixes[reader.principal] = reader.group_prefix
            else:
                principals.append(item)
        return {**data, "read": principals, "group_prefixes": prefixes}

    @field_validator("read", "write")
    @classmethod
    def _principals(cls, values: tuple[str, ...]) -> tuple[str, ...]:
        for value in values:
            if ":" not in value:
                raise ValueError(f"'{value}' is not a principal; write it as User:<name>")
        return values

    @model_validator(mode="after")
    def _prefixes_of_readers(self) -> Access:
        strangers = sorted(set(self.group_prefixes) - set(self.read))
        if strangers:
            raise ValueError(
                f"group_prefixes names '{strangers[0]}', which is not a reader; list it in read:"
            )
        return self


class MaskRule(Strict):
    rule: Literal["mask_all", "mask_first", "mask_last", "null"]
    # how many characters mask_first / mask_last replace (the Gateway's numberOfChars)
    keep: Annotated[int, Field(ge=1)] | None = None
    char: Annotated[str, Field(min_length=1, max_length=1)] = "*"

    @model_validator(mode="after")
    def _count_of_partial_rules(self) -> MaskRule:
        if self.rule in ("mask_first", "mask_last") and self.keep is None:
            raise ValueError(
                f"{self.rule} needs keep: the number of characters to mask, "
                f"e.g. {{rule: {self.rule}, keep: 4}}"
            )
        return self


Format = Literal["json", "avro", "protobuf", "csv", "raw"]


class NodeBase(Strict):
    name: Name
    description: str | None = None
    owner: str | None = None
    tags: NameList = ()
    meta: dict[str, Any] = Field(default_factory=dict)
    columns: tuple[Column, ...] = ()
    # blocks owned by plugins (a model's flink:, a sink's connector:), validated by their models
    extensions: dict[str, Any] = Field(default_factory=dict, exclude=True)


class Source(NodeBase):
    topic: Annotated[str, Field(pattern=r"^[A-Za-z0-9._-]{1,249}$")]
    format: Format = "json"
    key: NameList = ()
    event_time: EventTime | None = None
    access: Access = Field(default_factory=Access)


class Model(NodeBase):
    materialized: Annotated[str, Field(pattern=NAME_PATTERN)] | None = None
    sql: str | None = None
    from_: NameList = Field(default=(), alias="from")
    format: Format | None = None
    key: NameList = ()
    event_time: EventTime | None = None
    topic: TopicSpec | None = None
    access: Access = Field(default_factory=Access)
    mask: dict[str, MaskRule] = Field(default_factory=dict)
    mask_fallback: Literal["materialize"] | None = None


class _Assertion(Strict):
    pass


class NotNull(_Assertion):
    columns: NameList


class AcceptedValues(_Assertion):
    column: str
    values: tuple[Any, ...]


class Range(_Assertion):
    column: str
    min: float | None = None
    max: float | None = None


class Unique(_Assertion):
    columns: NameList


class Matches(_Assertion):
    column: str
    pattern: str


class AcceptedTypes(_Assertion):
    columns: dict[str, str]


class Freshness(_Assertion):
    max_age: Duration
    column: str | None = None


class RowCount(_Assertion):
    min: Annotated[int, Field(ge=0)] | None = None
    max: Annotated[int, Field(ge=0)] | None = None


class Expression(_Assertion):
    sql: str


ASSERTIONS: dict[str, type[_Assertion]] = {
    "not_null": NotNull,
    "accepted_values": AcceptedValues,
    "range": Range,
    "unique": Unique,
    "matches": Matches,
    "accepted_types": AcceptedTypes,
    "freshness": Freshness,
    "row_count": RowCount,
    "expression": Expression,
}


class Sample(Strict):
    max_records: Annotated[int, Field(ge=1)] = 1000
    per_partition: bool = True
    window: Duration | None = None
    timeout: Duration = "30s"  # how long reading the sample may take

    @field_validator("window", "timeout")
    @classmethod
    def _is_duration(cls, value: str | None) -> str | None:
        if value is not None:
            parse_duration_ms(value)
        return value


class DataTest(Strict):
    name: Name
    model: Name
    # schema | sample | continuous, or a type a plugin adds (checked against the plugins at compile)
    type: Annotated[str, Field(pattern=NAME_PATTERN)] = "sample"
    description: str | None = None
    tags: NameList = ()
    # each assertion is a one-key mapping {kind: arguments}; validated in the loader
    assertions: tuple[dict[str, Any], ...] = ()
    sample: Sample = Field(default_factory=Sample)
    on_failure: Literal["error", "warn"] = "error"
    extensions: dict[str, Any] = Field(default_factory=dict, exclude=True)


class Exposure(Strict):
    name: Name
    type: Literal["dashboard", "application", "service", "notebook", "analysis", "ml", "report"]
    owner: str | None = None
    description: str | None = None
    url: str | None = None
    tags: NameList = ()
    consumer_group: str | None = None
    depends_on: NameList = ()

    @field_validator("consumer_group")
    @classmethod
    def _group_id(cls, value: str | None) -> str | None:
        # the id names the group in ACLs and in lag and lineage queries
        if value is None:
            return value
        if not value.strip():
            raise ValueError(
                "an empty consumer group id matches no group; write the id the consumer "
                "reads with, or leave consumer_group out"
            )
        if value != value.strip() or any(ord(c) < 32 or ord(c) == 127 for c in value):
            raise ValueError(
                f"{value!r} has spaces around it or control characters; write the consumer "
                "group id exactly as the consumer uses it"
            )
        return value


class Environment(Strict):
    """``environments/<env>.yml``: per-environment runtime, vars and safety."""

    runtime: dict[str, Any] = Field(default_factory=dict)
    vars: dict[str, Any] = Field(default_factory=dict)
    protected: bool = False
    # deletes and replacements: allowed unless the environment is protected, when not set
    allow_destructive: bool | None = None

    @property
    def destructive_allowed(self) -> bool:
        if self.allow_destructive is not None:
            return self.allow_destructive
        return not self.protected


class ProjectFile(Strict):
    """The keys ``stream_project.yml`` may hold (node lists are also read from folders)."""

    project: ProjectInfo
    runtime: dict[str, Any] = Field(default_factory=dict)
    defaults: Defaults = Field(default_factory=Defaults)
    governance: Governance = Field(default_factory=Governance)
    vars: dict[str, Any] = Field(default_factory=dict)
    sources: list[Any] = Field(default_factory=list)
    models: list[Any] = Field(default_factory=list)
    tests: list[Any] = Field(default_factory=list)
    exposures: list[Any] = Field(default_factory=list)
