"""A test kit for plugin authors (and sluice itself), loaded by pytest automatically.

Fixtures:

``sluice_project``
    builds a project in a temporary directory from a dict of files::

        def test_my_kind(sluice_project):
            project = sluice_project({"stream_project.yml": "...", "models/a.sql": "..."})
            result = project.run("compile")
            assert result.exit_code == 0, result.output
            assert project.manifest()["nodes"]["model.a"]["materialized"] == "webhook"

``SluiceProject.run`` invokes the CLI in-process and returns a :class:`RunResult` with the exit
code and the text a user would see (stdout and stderr).

``local_stack(directory, services)``
    starts services of the installed plugins' dev stack for a test module and stops them after;
    ``SLUICE_TEST_STACK_ENV=<.sluice/dev/env>`` reuses a stack that is already running.
"""

from __future__ import annotations

import json
import os
import shutil
import textwrap
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest


@dataclass(frozen=True)
class RunResult:
    exit_code: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr

    def json(self) -> Any:
        return json.loads(self.stdout)


@dataclass
class SluiceProject:
    path: Path

    def write(self, files: Mapping[str, str]) -> None:
        for relative, text in files.items():
            target = self.path / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")

    def run(self, *args: str, env: Mapping[str, str] | None = None) -> RunResult:
        """Run ``sluice <args> --project-dir <path>`` in-process."""
        from click.testing import CliRunner

        from sluice.cli.main import cli

        runner = CliRunner()
        argv = list(args)
        if argv and argv[0] not in ("init", "dev") and "--project-dir" not in argv:
            argv += ["--project-dir", str(self.path)]
        result = runner.invoke(cli, argv, env=dict(env or {}), catch_exceptions=False)
        return RunResult(result.exit_code, result.stdout, result.stderr)

    def manifest(self) -> dict[str, Any]:
        data: dict[str, Any] = json.loads((self.path / "target" / "manifest.json").read_text())
        return data


@pytest.fixture
def sluice_project(tmp_path: Path) -> Callable[[Mapping[str, str]], SluiceProject]:
    """Make a project from ``{relative path: file text}`` (text is dedented)."""

    def make(files: Mapping[str, str]) -> SluiceProject:
        project = SluiceProject(tmp_path / "project")
        project.path.mkdir(parents=True, exist_ok=True)
        project.write(files)
        return project

    return make


@contextmanager
def local_stack(directory: Path, services: Sequence[str]) -> Iterator[dict[str, str]]:
    """Start ``services`` (and the services they need) in ``directory``, yield the variables
    they write to ``.sluice/dev/env``, and stop them all, whatever the test did.

    With ``SLUICE_TEST_STACK_ENV`` naming the env file of a running stack, that stack is used
    and left running. Skips the test when ``java`` or ``mvn`` is missing.
    """
    reuse = os.environ.get("SLUICE_TEST_STACK_ENV")
    if reuse:
        lines = Path(reuse).read_text(encoding="utf-8").splitlines()
        yield dict(line.removeprefix("export ").split("=", 1) for line in lines if "=" in line)
        return
    for tool in ("java", "mvn"):
        if shutil.which(tool) is None:
            pytest.skip(f"the local stack needs '{tool}' on PATH")
    from sluice.dev import DevStack
    from sluice.plugin.manager import PluginManager

    stack = DevStack(directory, PluginManager().dev_services(), echo=lambda line: None)
    try:
        yield stack.up(services)
    finally:
        stack.down()
