"""Fixtures of the core's tests.

``stream_installed`` makes the test plugin in ``stream_plugin.py`` *installed*, the way a user
installs a real plugin: it writes a tiny distribution (``sluice-stream-test``, a
``.dist-info`` folder with an entry point ``stream = "stream_plugin"`` in the group ``sluice``)
into a temporary folder and puts that folder on ``sys.path`` for the test. Every
``PluginManager()`` the CLI builds then finds it through importlib-metadata, as it would find
sluice-kafka. This was chosen over patching ``PluginManager.__init__`` defaults or
``Session``'s manager factory because it patches nothing in sluice: the entry-point discovery
the CLI really uses is what the tests exercise, ``sluice plugins`` and every other place that
builds a manager see the same plugins, and removing the folder from ``sys.path`` afterwards
uninstalls it. Plugins really installed in the venv are blocked with ``SLUICE_DISABLE_PLUGINS``
so the stories do not depend on what else is installed.

Tests that call ``load_project``/``compile_project`` directly use ``stream_plugin.manager()``,
a manager with the plugin registered explicitly and no entry points.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from importlib_metadata import entry_points

DIST = "sluice_stream_test-0.1.0.dist-info"


@pytest.fixture(scope="session")
def _stream_dist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    site = tmp_path_factory.mktemp("site")
    info = site / DIST
    info.mkdir()
    (info / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: sluice-stream-test\nVersion: 0.1.0\n", encoding="utf-8"
    )
    (info / "entry_points.txt").write_text("[sluice]\nstream = stream_plugin\n", encoding="utf-8")
    return site


@pytest.fixture
def stream_installed(_stream_dist: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The test plugin is installed (as an entry point) for the duration of one test."""
    monkeypatch.syspath_prepend(str(_stream_dist))
    monkeypatch.delenv("SLUICE_ENV", raising=False)
    # the plugins really installed in this environment (sluice-kafka ...) would change what the
    # stories see, so they are blocked the way a user blocks a plugin
    others = sorted({ep.name for ep in entry_points(group="sluice")} - {"stream"})
    monkeypatch.setenv("SLUICE_DISABLE_PLUGINS", ",".join(others))
