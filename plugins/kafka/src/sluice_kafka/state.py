"""What sluice manages, recorded in a compacted topic of its own, and the apply lock.

Each managed resource has one record keyed ``<project>/<env>/<kind>/<name>``; a tombstone
forgets it. The record holds the spec sluice applied, so plan can tell a config key the user
removed (reset it) from one somebody else set (leave it), and prune can tell sluice's
resources from everybody else's.

The lock is a record keyed ``<project>/<env>/__lock__`` holding claims and releases. The
topic has one partition, so every reader sees the claims in the same order; replaying them
(:func:`lock_holder`) names one holder: the first claim made while the lock was free or
expired. A run that wrote a claim and then finds another holder has lost and stops.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import time
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from confluent_kafka import (
    OFFSET_BEGINNING,
    Consumer,
    KafkaError,
    KafkaException,
    Producer,
    TopicPartition,
)

from sluice.errors import ConcurrencyError, RemoteError
from sluice_kafka.client import KafkaAdmin, error_code

STATE_TOPIC = "_sluice_state"
LOCK = "__lock__"
LOCK_TTL = 600.0  # seconds; a crashed run's lock is ignored once it expires
RENEW_AFTER = LOCK_TTL / 3


def spec_hash(spec: Mapping[str, Any]) -> str:
    """A stable digest of a JSON-serialisable spec."""
    text = json.dumps(spec, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def _iso(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).isoformat(timespec="seconds")


@dataclass(frozen=True)
class Record:
    """One resource sluice manages, as the state topic holds it."""

    kind: str
    name: str
    spec: Mapping[str, Any]
    spec_hash: str
    applied_version: str
    applied_at: str
    project: str
    environment: str

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "id": self.name,
            "spec": dict(self.spec),
            "spec_hash": self.spec_hash,
            "applied_version": self.applied_version,
            "applied_at": self.applied_at,
            "project": self.project,
            "environment": self.environment,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Record:
        return cls(
            data["kind"],
            data["id"],
            data.get("spec") or {},
            data.get("spec_hash", ""),
            data.get("applied_version", ""),
            data.get("applied_at", ""),
            data.get("project", ""),
            data.get("environment", ""),
        )


@dataclass(frozen=True)
class Holder:
    """Who claims the lock: a run on a host, and until when the claim holds."""

    run_id: str
    host: str
    pid: int
    started_at: float
    claimed_at: float
    expires_at: float

    def describe(self) -> str:
        return f"host {self.host}, pid {self.pid}, since {_iso(self.started_at)}"

    def to_json(self) -> dict[str, Any]:
        return {
            "claim": {
                "run_id": self.run_id,
                "host": self.host,
                "pid": self.pid,
                "started_at": self.started_at,
                "claimed_at": self.claimed_at,
                "expires_at": self.expires_at,
            }
        }


def lock_holder(events: Iterable[Mapping[str, Any]], now: float) -> Holder | None:
    """Replay the claims and releases of one lock in log order; the live holder, if any."""
    holder: Holder | None = None
    for event in events:
        claim = event.get("claim")
        if claim is not None:
            candidate = Holder(**claim)
            free = holder is None or holder.expires_at < candidate.claimed_at
            if free or (holder is not None and holder.run_id == candidate.run_id):
                holder = candidate
        elif holder is not None and event.get("release") == holder.run_id:
            holder = None
    if holder is not None and holder.expires_at < now:
        return None
    return holder


@dataclass
class Snapshot:
    """The state topic as read at one moment, for one project and environment."""

    records: dict[tuple[str, str], Record] = field(default_factory=dict)
    lock_events: list[dict[str, Any]] = field(default_factory=list)

    def of_kind(self, kind: str) -> dict[str, Record]:
        return {name: r for (k, name), r in self.records.items() if k == kind}


class StateStore:
    """Reads and writes the records of one project and environment."""

    def __init__(self, admin: KafkaAdmin, project: str, environment: str) -> None:
        self.admin = admin
        self.project = project
        self.environment = environment
        self.prefix = f"{project}/{environment}/"
        self._producer: Producer | None = None
        self._topic_ready = False

    def key(self, kind: str, name: str) -> str:
        return f"{self.prefix}{kind}/{name}"

    # -- reading ------------------------------------------------------------------------------

    def read(self) -> Snapshot:
        """Every live record of this project and environment (the topic may not exist yet)."""
        snapshot = Snapshot()
        for key, value in self._read_all():
            if not key.startswith(self.prefix):
                continue
            rest = key[len(self.prefix) :]
            if rest == LOCK:
                if value is not None:
                    snapshot.lock_events.append(json.loads(value))
                continue
            kind, _, name = rest.partition("/")
            if value is None:
                snapshot.records.pop((kind, name), None)
            else:
                snapshot.records[(kind, name)] = Record.from_json(json.loads(value))
        return snapshot

    def _read_all(self) -> list[tuple[str, bytes | None]]:
        if STATE_TOPIC not in self.admin.topic_names():
            return []
        consumer = Consumer(
            {
                **self.admin.config,
                "group.id": "sluice-state-reader",  # never joins nor commits: assign() only
                "enable.auto.commit": False,
                "enable.partition.eof": True,
            }
        )
        try:
            _low, high = consumer.get_watermark_offsets(
                TopicPartition(STATE_TOPIC, 0), timeout=self.admin.timeout
            )
            if high <= 0:
                return []
            consumer.assign([TopicPartition(STATE_TOPIC, 0, OFFSET_BEGINNING)])
            return self._consume_until(consumer, high)
        except KafkaException as exc:
            raise RemoteError(f"reading sluice's state topic {STATE_TOPIC} failed: {exc}") from exc
        finally:
            consumer.close()

    def _consume_until(self, consumer: Consumer, high: int) -> list[tuple[str, bytes | None]]:
        found: list[tuple[str, bytes | None]] = []
        deadline = time.monotonic() + self.admin.timeout
        while time.monotonic() < deadline:
            message = consumer.poll(1.0)
            if message is None:
                continue
            error = message.error()
            if error is not None:
                if error.code() == KafkaError._PARTITION_EOF:
                    return found
                raise RemoteError(f"reading sluice's state topic {STATE_TOPIC} failed: {error}")
            key = message.key()
            if key is not None:
                found.append((key.decode("utf-8"), message.value()))
            offset = message.offset()
            if offset is not None and offset >= high - 1:
                return found
        raise RemoteError(
            f"reading sluice's state topic {STATE_TOPIC} took longer than {self.admin.timeout:g}s"
        )

    # -- writing ------------------------------------------------------------------------------

    def save(self, kind: str, name: str, spec: Mapping[str, Any], version: str) -> Record:
        record = Record(
            kind,
            name,
            dict(spec),
            spec_hash(spec),
            version,
            _iso(time.time()),
            self.project,
            self.environment,
        )
        self._send(self.key(kind, name), json.dumps(record.to_json(), sort_keys=True))
        return record

    def save_many(self, items: Sequence[tuple[str, str, Mapping[str, Any]]], version: str) -> None:
        """Record several resources (kind, name, spec) with one flush of the producer."""
        if not items:
            return
        now = _iso(time.time())
        self._send_many(
            [
                (
                    self.key(kind, name),
                    json.dumps(
                        Record(
                            kind,
                            name,
                            dict(spec),
                            spec_hash(spec),
                            version,
                            now,
                            self.project,
                            self.environment,
                        ).to_json(),
                        sort_keys=True,
                    ),
                )
                for kind, name, spec in items
            ]
        )

    def forget(self, kind: str, name: str) -> None:
        self._send(self.key(kind, name), None)

    def forget_many(self, items: Sequence[tuple[str, str]]) -> None:
        """Forget several resources (kind, name) with one flush of the producer."""
        if items:
            self._send_many([(self.key(kind, name), None) for kind, name in items])

    def _send(self, key: str, value: str | None) -> None:
        self._send_many([(key, value)])

    def _send_many(self, messages: Sequence[tuple[str, str | None]]) -> None:
        self.ensure_topic()
        producer = self._producer_once()
        failures: list[str] = []

        def delivered(error: Any, _message: Any) -> None:
            if error is not None:
                failures.append(str(error))

        for key, value in messages:
            producer.produce(
                STATE_TOPIC,
                key=key.encode("utf-8"),
                value=value.encode("utf-8") if value is not None else None,
                on_delivery=delivered,
            )
        remaining = producer.flush(self.admin.timeout)
        if failures or remaining:
            keys = ", ".join(key for key, _ in messages[:3])
            raise RemoteError(
                f"writing {keys} to sluice's state topic {STATE_TOPIC} failed: "
                + ("; ".join(failures) or "not delivered in time"),
                hint="the change was applied, but sluice could not record it; rerun apply",
            )

    def _producer_once(self) -> Producer:
        if self._producer is None:
            self._producer = Producer({**self.admin.config, "enable.idempotence": True})
        return self._producer

    def ensure_topic(self) -> None:
        """Create the state topic on first use: compacted, one partition (one order)."""
        if self._topic_ready:
            return
        if STATE_TOPIC not in self.admin.topic_names():
            brokers = self.admin.cluster().brokers
            config = {"cleanup.policy": "compact", "min.compaction.lag.ms": "3600000"}
            try:
                self.admin.create_topic(STATE_TOPIC, 1, min(3, max(1, brokers)), config)
            except RemoteError as exc:
                cause = exc.__cause__
                if not (
                    isinstance(cause, KafkaException)
                    and error_code(cause) == KafkaError.TOPIC_ALREADY_EXISTS
                ):
                    raise  # another run created it first
        self._topic_ready = True

    # -- the lock -----------------------------------------------------------------------------

    def take_lock(self, me: Holder) -> Holder:
        """Claim the lock for ``me`` or raise naming who holds it."""
        self._refuse_if_held(me, self.read().lock_events)
        self._send(self._lock_key(), json.dumps(me.to_json()))
        # another run may have claimed it between our read and our write: the log decides
        self._refuse_if_held(me, self.read().lock_events)
        return me

    def renew_lock(self, me: Holder) -> Holder:
        now = time.time()
        renewed = Holder(me.run_id, me.host, me.pid, me.started_at, now, now + LOCK_TTL)
        self._send(self._lock_key(), json.dumps(renewed.to_json()))
        return renewed

    def release_lock(self, me: Holder) -> None:
        self._send(self._lock_key(), json.dumps({"release": me.run_id}))

    def _lock_key(self) -> str:
        return f"{self.prefix}{LOCK}"

    def _refuse_if_held(self, me: Holder, events: Sequence[Mapping[str, Any]]) -> None:
        holder = lock_holder(events, time.time())
        if holder is not None and holder.run_id != me.run_id:
            raise ConcurrencyError(
                f"another apply holds the lock of {self.project}/{self.environment}: "
                f"{holder.describe()}",
                hint="wait for it to finish and rerun; a lock left by a crashed run expires "
                f"at {_iso(holder.expires_at)}",
            )

    def close(self) -> None:
        if self._producer is not None:
            self._producer.flush(self.admin.timeout)
            self._producer = None


def new_holder() -> Holder:
    """A claim for this process, valid for :data:`LOCK_TTL` seconds."""
    now = time.time()
    return Holder(uuid.uuid4().hex, socket.gethostname(), os.getpid(), now, now, now + LOCK_TTL)
