"""Fixtures of sluice-conduktor's tests: contract-checked fake Gateway and Console servers.

``gateway`` and ``console`` start real HTTP servers on localhost. Every request sluice sends them
and every answer they give is validated against Conduktor's published OpenAPI documents in
../shared/contracts/conduktor/ (resolved from this file: tests/plugins/conduktor → repository
root → ../shared); a test fails if any exchange departs from them. Without those documents the
tests that need a fake are skipped, saying why.

Plugins other than sluice-conduktor are blocked with ``SLUICE_DISABLE_PLUGINS`` unless a test
asks for them (``others``), so these tests never reach for a broker or a Flink cluster.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from importlib_metadata import entry_points

from .contract import CONSOLE_CONTRACT, GATEWAY_CONTRACT, Contract
from .fake_console import ConsoleState, FakeConsole
from .fake_gateway import FakeGateway, FakeState, start


def _contract(path: Path) -> Contract:
    if not path.is_file():
        pytest.skip(f"the Conduktor API contract {path} is absent (expected in ../shared)")
    return Contract(path)


@pytest.fixture(scope="session")
def gateway_contract() -> Contract:
    return _contract(GATEWAY_CONTRACT)


@pytest.fixture(scope="session")
def console_contract() -> Contract:
    contract = _contract(CONSOLE_CONTRACT)
    contract.prefix = "/api"  # the document leaves out Console's /api base path
    return contract


@pytest.fixture
def gateway(gateway_contract: Contract) -> Iterator[FakeGateway]:
    server = FakeGateway(gateway_contract, FakeState())
    start(server)
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
    assert server.state.violations == [], "\n".join(server.state.violations)


@pytest.fixture
def console(console_contract: Contract) -> Iterator[FakeConsole]:
    server = FakeConsole(console_contract, ConsoleState())
    start(server)
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
    assert server.state.violations == [], "\n".join(server.state.violations)


@pytest.fixture
def only_conduktor(monkeypatch: pytest.MonkeyPatch) -> None:
    """Block every installed plugin but sluice-conduktor."""
    monkeypatch.delenv("SLUICE_ENV", raising=False)
    others = sorted({ep.name for ep in entry_points(group="sluice")} - {"conduktor"})
    monkeypatch.setenv("SLUICE_DISABLE_PLUGINS", ",".join(others))


@pytest.fixture
def without_conduktor(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SLUICE_ENV", raising=False)
    monkeypatch.setenv("SLUICE_DISABLE_PLUGINS", "conduktor")
