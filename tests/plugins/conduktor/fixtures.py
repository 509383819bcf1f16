"""Fixtures that start the contract-checked fake Gateway and Console (shared by the plugin's
tests and by the example project's enhanced-mode story in tests/examples).

``gateway`` and ``console`` start real HTTP servers on localhost. Every request sluice sends them
and every answer they give is validated against Conduktor's published OpenAPI documents in
../shared/contracts/conduktor/ (resolved from this file: tests/plugins/conduktor → repository
root → ../shared); a test fails if any exchange departs from them. Without those documents the
tests that need a fake are skipped, saying why.

A conftest makes them available by importing them.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

import pytest

from .contract import CONSOLE_CONTRACT, GATEWAY_CONTRACT, Contract
from .fake_console import ConsoleState, FakeConsole
from .fake_gateway import FakeGateway, FakeState, Server, start

ServerT = TypeVar("ServerT", bound=Server)


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


@contextmanager
def serving(server: ServerT) -> Iterator[ServerT]:
    """Run ``server`` for one test; then fail the test on any exchange outside the contract."""
    start(server)
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
    assert server.state.violations == [], "\n".join(server.state.violations)


@pytest.fixture
def gateway(gateway_contract: Contract) -> Iterator[FakeGateway]:
    with serving(FakeGateway(gateway_contract, FakeState())) as server:
        yield server


@pytest.fixture
def console(console_contract: Contract) -> Iterator[FakeConsole]:
    with serving(FakeConsole(console_contract, ConsoleState())) as server:
        yield server
