"""``type: sample`` tests: read a bounded sample of a node's topic and check its assertions.

The test's node (a source or a model) names the topic (``node.topic``) and its format. The
sample is read by :mod:`sampling`, decoded (JSON, or Avro in the registry's wire format) and
handed to the checks of :mod:`assertions`. The result counts one failure per record and
assertion it breaks; its details list the offending records (partition, offset, value cut to
200 characters, assertion, reason), at most :data:`MAX_DETAILS` of them, and its message names
the first few, so a JUnit report (which carries only the message) shows them too.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from sluice.errors import PluginError, SluiceError
from sluice.nodes import Node
from sluice.plugin.api import TestResult
from sluice.project.schema import parse_duration_ms
from sluice.runtime import RunContext, read_bootstrap
from sluice_kafka import avro
from sluice_kafka.assertions import Check, CheckError, SampleView, Violation, build
from sluice_kafka.client import client_config
from sluice_kafka.config import KafkaConfig, SchemaRegistryConfig
from sluice_kafka.sampling import Bounds, Sample, read_sample

TEST_TYPE = "sample"
VALUE_SHOWN = 200  # characters of a record's value in the details
MAX_DETAILS = 100  # offending records listed per test
IN_MESSAGE = 3  # offending records named in the message


def run(test: Node, context: RunContext) -> TestResult | None:
    """The result of one sample test, or None when this plugin does not run it."""
    kafka = context.runtime.get("kafka")
    if getattr(test.spec, "type", None) != TEST_TYPE or not isinstance(kafka, KafkaConfig):
        return None
    uid = test.unique_id
    node = context.manifest.nodes.get(test.depends_on[0]) if test.depends_on else None
    if node is None or not node.topic:
        what = f"'{node.name}'" if node is not None else "its model"
        message = f"{what} has no Kafka topic to sample"
        return TestResult(uid, "error", message)
    try:
        checks = [build(a) for a in test.spec.assertions]
    except CheckError as exc:
        return TestResult(uid, "error", str(exc))
    if not checks:
        return TestResult(uid, "error", "a sample test needs at least one assertion")
    timeout = parse_duration_ms(test.spec.sample.timeout) / 1000
    registry = context.runtime.get("schema_registry")
    now_ms = int(time.time() * 1000)
    config = client_config(kafka)
    proxy = read_bootstrap(node, context.runtime)
    if proxy:  # a topic a proxy serves (a Gateway virtual topic) is read through the proxy
        config["bootstrap.servers"] = proxy
    try:
        sample = read_sample(config, node.topic, bounds_of(test.spec.sample), timeout, now_ms)
    except SluiceError as exc:
        return TestResult(uid, "error", exc.render())
    if not sample.complete:
        message = (
            f"read {sample.expected - sample.missing} of the {sample.expected} records of "
            f"'{node.topic}' within {timeout:g}s; raise the test's sample: {{timeout: ...}}"
        )
        return TestResult(uid, "error", message)
    if not isinstance(registry, SchemaRegistryConfig):
        registry = None
    try:
        return evaluate(uid, sample, checks, decoder_for(node.format, registry), now_ms)
    except SluiceError as exc:
        return TestResult(uid, "error", exc.render())


def bounds_of(spec: Any) -> Bounds:
    """The sample's bounds: a window caps the records per partition only when asked to."""
    window = parse_duration_ms(spec.window) if spec.window else None
    capped = window is None or "max_records" in spec.model_fields_set
    return Bounds(spec.max_records if capped else None, spec.per_partition, window)


Decoder = Callable[[Sequence[bytes | None]], tuple[list[Any], dict[int, str]]]


def decoder_for(fmt: str | None, registry: SchemaRegistryConfig | None) -> Decoder:
    """Bytes -> values, and the index -> reason of each record that could not be decoded."""
    if fmt == "avro":
        return avro.Decoder(registry).decode_all
    if fmt not in (None, "json"):
        raise PluginError(
            f"sample tests read JSON and Avro records, not {fmt}",
            hint="test this node with type: schema or continuous instead",
        )
    return decode_json


try:  # orjson decodes small records about three times as fast as the json module
    from orjson import JSONDecodeError as _JSONError
    from orjson import loads as _loads
except ImportError:  # pragma: no cover - orjson is a dependency, but keep working without
    _JSONError = json.JSONDecodeError  # type: ignore[misc,assignment]
    _loads = json.loads  # type: ignore[assignment]


def decode_json(raw: Sequence[bytes | None]) -> tuple[list[Any], dict[int, str]]:
    loads = _loads
    try:  # the common case: every record decodes, in one tight loop
        return [None if v is None else loads(v) for v in raw], {}
    except (ValueError, _JSONError):
        pass
    values: list[Any] = []
    problems: dict[int, str] = {}
    for i, v in enumerate(raw):
        try:
            values.append(None if v is None else loads(v))
        except (ValueError, _JSONError) as exc:
            values.append(None)
            problems[i] = f"not JSON: {exc}"
    return values, problems


def evaluate(
    uid: str,
    sample: Sample,
    checks: Sequence[tuple[str, Check]],
    decode: Decoder,
    now_ms: int,
) -> TestResult:
    messages = sample.messages
    values, problems = decode([m.value() for m in messages])
    odd = [i for i, v in enumerate(values) if v is not None and v.__class__ is not dict]
    for i in odd:
        if not isinstance(values[i], Mapping) and i not in problems:
            problems[i] = f"the value is {type(values[i]).__name__}, not a record"
    if problems:  # undecodable records fail the test and are not checked further
        for i in problems:
            values[i] = None

    def where(i: int) -> str:
        return f"partition {messages[i].partition()} offset {messages[i].offset()}"

    raw_text = decode is decode_json

    def shown(i: int) -> str | None:
        if raw_text or values[i] is None:
            return _cut(messages[i].value())
        return _cut(json.dumps(values[i], ensure_ascii=False, default=str).encode())

    needs_time = any(label == "freshness" for label, _ in checks)
    stamps = [m.timestamp()[1] for m in messages] if needs_time else []
    view = SampleView(values, stamps, now_ms, where)
    violations = [Violation(i, "decode", reason) for i, reason in sorted(problems.items())]
    for _, check in checks:
        violations.extend(check(view))
    count = len(messages)
    topic = sample.topic
    partitions = len(sample.ranges)
    if not violations:
        message = (
            f"{len(checks)} {'assertion holds' if len(checks) == 1 else 'assertions hold'} "
            f"on {count} "
            f"record{'s' if count != 1 else ''} of '{topic}' ({partitions} "
            f"partition{'s' if partitions != 1 else ''})"
        )
        return TestResult(uid, "pass", message, 0, ())
    details = [_detail(v, messages, shown) for v in violations[:MAX_DETAILS]]
    named = "; ".join(_named(v, messages) for v in violations[:IN_MESSAGE])
    more = len(violations) - IN_MESSAGE
    message = (
        f"{len(violations)} failure{'s' if len(violations) != 1 else ''} in {count} "
        f"record{'s' if count != 1 else ''} of '{topic}': {named}"
        + (f"; and {more} more" if more > 0 else "")
    )
    return TestResult(uid, "fail", message, len(violations), details)


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
