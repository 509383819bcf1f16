"""Fixtures of sluice-conduktor's tests: the contract-checked fake Gateway and Console servers
(``gateway``, ``console``: see ``fixtures.py``), and which plugins a story loads.

``only_conduktor`` blocks every other installed plugin with ``SLUICE_DISABLE_PLUGINS``, so a
story never reaches for a broker or a Flink cluster; ``without_conduktor`` blocks this one.
"""

from __future__ import annotations

import pytest
from importlib_metadata import entry_points

from .fixtures import console, console_contract, gateway, gateway_contract

__all__ = ["console", "console_contract", "gateway", "gateway_contract"]


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
