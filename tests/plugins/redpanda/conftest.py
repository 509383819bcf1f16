"""Fixtures of sluice-redpanda's tests: a stateful fake Admin API and a stateful fake Redpanda
Connect (streams mode).

Plugins other than sluice-redpanda are blocked with ``SLUICE_DISABLE_PLUGINS`` so these tests
never reach for a broker or a Flink cluster.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from importlib_metadata import entry_points

from sluice_redpanda import planner, stream_plan

from .fake_admin import FakeAdmin, start
from .fake_connect import FakeConnect


@pytest.fixture
def admin(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeAdmin]:
    monkeypatch.setattr(planner, "POLL_INTERVAL", 0.01)
    server = FakeAdmin()
    start(server)
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def connect(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeConnect]:
    monkeypatch.setattr(stream_plan, "POLL_INTERVAL", 0.01)
    server = FakeConnect()
    start(server)
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def only_redpanda(monkeypatch: pytest.MonkeyPatch) -> None:
    """Block every installed plugin but sluice-redpanda."""
    monkeypatch.delenv("SLUICE_ENV", raising=False)
    others = sorted({ep.name for ep in entry_points(group="sluice")} - {"redpanda"})
    monkeypatch.setenv("SLUICE_DISABLE_PLUGINS", ",".join(others))


@pytest.fixture
def without_redpanda(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SLUICE_ENV", raising=False)
    monkeypatch.setenv("SLUICE_DISABLE_PLUGINS", "redpanda")
