"""``type: sample`` tests: read a bounded sample of a node's topic and check its assertions.

The test's node (a source or a model) names the topic (``node.topic``) and its format. The
sample is read by :mod:`sampling` and decoded (JSON, or Avro in the registry's wire format)
batch by batch while it is read (:class:`Decoded`), then the checks of :mod:`assertions` see
the whole sample; when every check reads columns, only those are decoded
(:class:`~sluice_kafka.json_records.JsonColumns`). The result counts one failure per record
and assertion it breaks; its details list the offending records (partition, offset, value
cut to 200 characters, assertion, reason), at most :data:`MAX_DETAILS` of them, and its
message names the first few, so a JUnit report (which carries only the message) shows them
too. Columns classified sensitive (or computed from one) are shown as ``"***"`` in values
and reasons.

:func:`prepare`, :class:`Decoded` and :class:`Findings` serve ``sluice test --watch`` too
(:mod:`watch`).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sluice.errors import PluginError, SluiceError
from sluice.governance import MASK, sensitive_columns
from sluice.memory import collector_paused
from sluice.nodes import Node
from sluice.plugin.api import TestResult
from sluice.project.schema import parse_duration_ms
from sluice.runtime import RunContext, read_bootstrap
from sluice_kafka import avro
from sluice_kafka.assertions import Check, CheckError, SampleView, Violation, build
from sluice_kafka.client import client_config
from sluice_kafka.config import KafkaConfig, SchemaRegistryConfig
from sluice_kafka.json_records import JsonColumns, decode_json
from sluice_kafka.sampling import Bounds, Sample, read_sample

TEST_TYPE = "sample"
VALUE_SHOWN = 200  # characters of a record's value in the details
MAX_DETAILS = 100  # offending records listed per test
IN_MESSAGE = 3  # offending records named in the message


def run(test: Node, context: RunContext) -> TestResult | None:
    """The result of one sample test, or None when this plugin does not run it."""
    if getattr(test.spec, "type", None) != TEST_TYPE:
        return None
    reader = prepare(test, context)
    if not isinstance(reader, Reader):
        return reader
    assert reader.node.topic is not None  # prepare() checked it
    timeout = parse_duration_ms(test.spec.sample.timeout) / 1000
    bounds = bounds_of(test.spec.sample)
    return check_sample(test.unique_id, reader, reader.node.topic, bounds, timeout)


def check_sample(
    uid: str, reader: Reader, topic: str, bounds: Bounds, timeout: float
) -> TestResult:
    """Read the sample of ``topic`` and check it. The cyclic collector stays paused until the
    sample is dropped (with the frame of :func:`_read_and_check`): resumed before, its first
    collection would walk every message of the sample."""
    with collector_paused():
        return _read_and_check(uid, reader, topic, bounds, timeout)


def _read_and_check(
    uid: str, reader: Reader, topic: str, bounds: Bounds, timeout: float
) -> TestResult:
    now_ms = int(time.time() * 1000)
    decoded = Decoded(reader.decode)
    try:
        sample = read_sample(reader.config, topic, bounds, timeout, now_ms, decoded.add)
    except SluiceError as exc:
        return TestResult(uid, "error", exc.render())
    if not sample.complete:
        message = (
            f"read {sample.expected - sample.missing} of the {sample.expected} records of "
            f"'{topic}' within {timeout:g}s; raise the test's sample: {{timeout: ...}}"
        )
        return TestResult(uid, "error", message)
    try:
        return evaluate(uid, sample, reader.checks, decoded, now_ms, reader.hidden)
    except SluiceError as exc:
        return TestResult(uid, "error", exc.render())


@dataclass(frozen=True)
class Reader:
    """What reading and checking the records of a test's node takes."""

    node: Node  # the source or model tested; it has a topic
    checks: list[tuple[str, Check]]
    config: dict[str, Any]  # librdkafka settings, through the proxy when one serves the topic
    decode: Decoder
    hidden: frozenset[str]  # its sensitive columns, masked wherever records are shown


def prepare(test: Node, context: RunContext) -> Reader | TestResult | None:
    """How to read and check the records ``test`` checks; an error result when that cannot
    be done, None without ``runtime.kafka``."""
    kafka = context.runtime.get("kafka")
    if not isinstance(kafka, KafkaConfig):
        return None
    uid = test.unique_id
    node = context.manifest.nodes.get(test.depends_on[0]) if test.depends_on else None
    if node is None or not node.topic:
        what = f"'{node.name}'" if node is not None else "its model"
        return TestResult(uid, "error", f"{what} has no Kafka topic to read")
    try:
        checks = [build(a) for a in test.spec.assertions]
    except CheckError as exc:
        return TestResult(uid, "error", str(exc))
    if not checks:
        return TestResult(uid, "error", f"a {test.spec.type} test needs at least one assertion")
    registry = context.runtime.get("schema_registry")
    try:
        decode = decoder_for(
            node.format, registry if isinstance(registry, SchemaRegistryConfig) else None, checks
        )
    except SluiceError as exc:
        return TestResult(uid, "error", exc.render())
    config = client_config(kafka)
    proxy = read_bootstrap(node, context.runtime)
    if proxy:  # a topic a proxy serves (a Gateway virtual topic) is read through the proxy
        config["bootstrap.servers"] = proxy
    hidden = frozenset(sensitive_columns(node, context.manifest.nodes))
    return Reader(node, checks, config, decode, hidden)


def bounds_of(spec: Any) -> Bounds:
    """The sample's bounds: a window caps the records per partition only when asked to."""
    window = parse_duration_ms(spec.window) if spec.window else None
    capped = window is None or "max_records" in spec.model_fields_set
    return Bounds(spec.max_records if capped else None, spec.per_partition, window)


Decoder = Callable[[Sequence[bytes | None]], tuple[list[Any], dict[int, str]]]


def decoder_for(
    fmt: str | None,
    registry: SchemaRegistryConfig | None,
    checks: Sequence[tuple[str, Check]] = (),
) -> Decoder:
    """Bytes -> values, and the index -> reason of each record that could not be decoded.
    JSON records are decoded only in the columns the checks read, when they all read columns
    (top-level ones: a nested ``a.b`` may also be a column named so)."""
    if fmt == "avro":
        return avro.Decoder(registry).decode_all
    if fmt not in (None, "json"):
        raise PluginError(
            f"sample tests and `sluice test --watch` read JSON and Avro records, not {fmt}",
            hint="test this node with type: schema, or with type: continuous run by Flink",
        )
    reads = [check.reads for _, check in checks]
    if not checks or None in reads:
        return decode_json
    columns = sorted(set().union(*reads))  # type: ignore[arg-type]
    if any("." in column for column in columns):
        return decode_json
    return JsonColumns(columns)


@dataclass
class Decoded:
    """Consumed messages and their values, decoded batch after batch as they are added. A
    record that cannot be decoded, or is not a record (a JSON array), has the value None and
    the reason in ``problems`` (index -> reason). The values of a decoder of some columns
    (:class:`JsonColumns`) are its rows, and those columns are read as they are added."""

    decode: Decoder
    messages: list[Any] = field(default_factory=list)
    values: list[Any] = field(default_factory=list)
    problems: dict[int, str] = field(default_factory=dict)
    columns: dict[str, list[Any]] = field(default_factory=dict)  # column -> values

    @classmethod
    def of(cls, messages: Sequence[Any], decode: Decoder) -> Decoded:
        """``messages`` decoded in one batch."""
        decoded = cls(decode)
        decoded.add(messages)
        return decoded

    def add(self, messages: Sequence[Any]) -> None:
        """Decode one more batch of consumed messages."""
        values, problems = self.decode([m.value() for m in messages])
        record = self.decode.row if isinstance(self.decode, JsonColumns) else dict
        odd = [i for i, v in enumerate(values) if v is not None and v.__class__ is not record]
        for i in odd:
            if not isinstance(values[i], Mapping) and i not in problems:
                problems[i] = f"the value is {type(values[i]).__name__}, not a record"
        start = len(self.values)
        for i, reason in problems.items():  # not checked further
            values[i] = None
            self.problems[start + i] = reason
        self.messages.extend(messages)
        self.values.extend(values)
        if isinstance(self.decode, JsonColumns):  # while librdkafka fetches the next batch
            for name in self.decode.columns:
                self.columns.setdefault(name, []).extend(self.decode.column(values, name))


def evaluate(
    uid: str,
    sample: Sample,
    checks: Sequence[tuple[str, Check]],
    decoded: Decoded,
    now_ms: int,
    hidden: frozenset[str] = frozenset(),
) -> TestResult:
    """The result of checking the records of ``sample``, decoded in ``decoded``."""
    findings = Findings()
    with collector_paused():  # the checks make lists as long as the sample
        findings.check(decoded, checks, now_ms, hidden)
    partitions = len(sample.ranges)
    scope = f"of '{sample.topic}'"
    spread = f"({partitions} partition{'s' if partitions != 1 else ''})"
    return findings.result(uid, len(checks), scope, spread)


@dataclass
class Findings:
    """What checking records found so far, batch after batch: every record and failure is
    counted, the first :data:`MAX_DETAILS` failures are kept as details (the value of a record
    shown with its hidden columns masked) and the first :data:`IN_MESSAGE` named."""

    records: int = 0
    failures: int = 0
    details: list[dict[str, Any]] = field(default_factory=list)
    named: list[str] = field(default_factory=list)

    def check(
        self,
        decoded: Decoded,
        checks: Sequence[tuple[str, Check]],
        now_ms: int,
        hidden: frozenset[str] = frozenset(),
    ) -> None:
        """Check decoded messages (the checks see only these: a batch, or a whole sample);
        records that could not be decoded fail."""
        messages, values, problems = decoded.messages, decoded.values, decoded.problems

        def where(i: int) -> str:
            return f"partition {messages[i].partition()} offset {messages[i].offset()}"

        needs_time = any(label == "freshness" for label, _ in checks)
        stamps = [m.timestamp()[1] for m in messages] if needs_time else []
        view = SampleView(values, stamps, now_ms, where, hidden, dict(decoded.columns))
        violations = [Violation(i, "decode", reason) for i, reason in sorted(problems.items())]
        for _, check in checks:
            violations.extend(check(view))
        self.records += len(messages)
        self.failures += len(violations)
        if not violations or len(self.details) >= MAX_DETAILS:
            return
        json_text = decoded.decode is decode_json or isinstance(decoded.decode, JsonColumns)
        raw_text = json_text and not hidden

        def shown(i: int) -> str | None:
            value = values[i]
            if raw_text or value is None:
                return _cut(messages[i].value())
            if not isinstance(value, Mapping):  # a row of some columns: the whole record
                value = json.loads(messages[i].value())
            if hidden:
                value = {k: MASK if k in hidden and v is not None else v for k, v in value.items()}
            return _cut(json.dumps(value, ensure_ascii=False, default=str).encode())

        for violation in violations[: MAX_DETAILS - len(self.details)]:
            self.details.append(_detail(violation, messages, shown))
        for violation in violations[: IN_MESSAGE - len(self.named)]:
            self.named.append(_named(violation, messages))

    def result(self, uid: str, assertions: int, scope: str, spread: str = "") -> TestResult:
        """Pass or fail: ``scope`` says where the records came from (``of 'orders'``),
        ``spread`` is added when they all passed (``(3 partitions)``)."""
        count = self.records
        records = f"{count} record{'s' if count != 1 else ''} {scope}"
        if not self.failures:
            holds = "assertion holds" if assertions == 1 else "assertions hold"
            message = f"{assertions} {holds} on {records}" + (f" {spread}" if spread else "")
            return TestResult(uid, "pass", message, 0, ())
        more = self.failures - len(self.named)
        message = (
            f"{self.failures} failure{'s' if self.failures != 1 else ''} in {records}: "
            + "; ".join(self.named)
            + (f"; and {more} more" if more > 0 else "")
        )
        return TestResult(uid, "fail", message, self.failures, list(self.details))


def _cut(raw: bytes | None) -> str | None:
    if raw is None:
        return None
    text = raw.decode("utf-8", errors="replace") if isinstance(raw, bytes) else str(raw)
    return text if len(text) <= VALUE_SHOWN else text[: VALUE_SHOWN - 3] + "..."


def _detail(
    violation: Violation, messages: Sequence[Any], shown: Callable[[int], str | None]
) -> dict[str, Any]:
    if violation.index is None:
        return {
            "partition": None,
            "offset": None,
            "value": None,
            "assertion": violation.assertion,
            "reason": violation.reason,
        }
    message = messages[violation.index]
    return {
        "partition": message.partition(),
        "offset": message.offset(),
        "value": shown(violation.index),
        "assertion": violation.assertion,
        "reason": violation.reason,
    }


def _named(violation: Violation, messages: Sequence[Any]) -> str:
    if violation.index is None:
        return f"{violation.assertion}: {violation.reason}"
    message = messages[violation.index]
    return (
        f"{violation.assertion}: {violation.reason} "
        f"(partition {message.partition()}, offset {message.offset()})"
    )
