"""Fixtures of sluice-kafka's tests.

``jobs_stub_installed`` installs (as an entry point, the way a user installs a plugin) a tiny
plugin that provides the ``stream_jobs`` capability, so models with SQL can materialize a
topic without a Flink cluster: these tests are about the topics, not the jobs that fill them.
Every other installed plugin except sluice-kafka is blocked with ``SLUICE_DISABLE_PLUGINS``.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from importlib_metadata import entry_points

STUB = '''
"""Stands in for a stream-job plugin: provides stream_jobs, deploys nothing."""
from pydantic import BaseModel, ConfigDict

from sluice.plugin import hookimpl
from sluice.plugin.api import ConfigSection, ProbeResult


class JobsStub(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    note: str = ""


@hookimpl
def sluice_config_sections():
    return [ConfigSection("runtime", "jobs_stub", JobsStub, ("stream_jobs",), "no jobs")]


@hookimpl
def sluice_probe(runtime, timeout):
    return ProbeResult(True, ("stream_jobs",)) if "jobs_stub" in runtime else None
'''


@pytest.fixture(scope="session")
def _jobs_stub_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    site = tmp_path_factory.mktemp("site")
    (site / "kafka_jobs_stub.py").write_text(STUB, encoding="utf-8")
    info = site / "kafka_jobs_stub-0.1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: kafka-jobs-stub\nVersion: 0.1.0\n", encoding="utf-8"
    )
    (info / "entry_points.txt").write_text(
        "[sluice]\njobs_stub = kafka_jobs_stub\n", encoding="utf-8"
    )
    return site


@pytest.fixture
def jobs_stub_installed(_jobs_stub_site: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(_jobs_stub_site))
    monkeypatch.delenv("SLUICE_ENV", raising=False)
    others = sorted({ep.name for ep in entry_points(group="sluice")} - {"kafka", "jobs_stub"})
    monkeypatch.setenv("SLUICE_DISABLE_PLUGINS", ",".join(others))
