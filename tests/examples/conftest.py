"""Fixtures of the example projects' stories.

``gateway`` and ``console`` are sluice-conduktor's contract-checked fake servers (shared with
its own tests).

``offline_stack_plugins`` installs the stand-ins of ``offline_plugins.py`` the way a user
installs a plugin: a distribution whose entry points carry the names ``kafka``, ``flink`` and
``connect``, put ahead of the real ones on ``sys.path``. The plugin manager loads the first
plugin of each name, so it loads the stand-ins (the fixture checks that it does); every other
installed plugin but sluice-conduktor is blocked. The project compiles as usual, and plan and
apply reach only the fake Conduktor servers.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from importlib_metadata import entry_points

from plugins.conduktor.fixtures import console, console_contract, gateway, gateway_contract
from sluice.plugin.manager import PluginManager

__all__ = ["console", "console_contract", "gateway", "gateway_contract"]
DIST = "sluice-offline-stack"
# the entry-point names stood in for, each an attribute of offline_plugins.py (imported only by
# the plugin manager, so collecting these tests needs none of the three plugins)
REPLACED = ("kafka", "flink", "connect")
KEPT = {*REPLACED, "conduktor"}


@pytest.fixture(scope="session")
def _offline_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    site = tmp_path_factory.mktemp("offline-site")
    info = site / "sluice_offline_stack-0.1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(
        f"Metadata-Version: 2.1\nName: {DIST}\nVersion: 0.1.0\n", encoding="utf-8"
    )
    points = "".join(f"{name} = {__package__}.offline_plugins:{name}\n" for name in REPLACED)
    (info / "entry_points.txt").write_text(f"[sluice]\n{points}", encoding="utf-8")
    return site


@pytest.fixture
def offline_stack_plugins(_offline_site: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for module in ("sluice_kafka", "sluice_flink", "sluice_connect", "sluice_conduktor"):
        pytest.importorskip(module)
    monkeypatch.syspath_prepend(str(_offline_site))
    monkeypatch.delenv("SLUICE_ENV", raising=False)
    others = {ep.name for ep in entry_points(group="sluice")} - KEPT
    monkeypatch.setenv("SLUICE_DISABLE_PLUGINS", ",".join(sorted(others)))
    loaded = {p.name: p.distribution for p in PluginManager().plugins}
    assert {name: loaded.get(name) for name in REPLACED} == dict.fromkeys(REPLACED, DIST)
