"""One command's view of a project: its plugins, the project, its capabilities, its compile.

Each step is computed once, on first use, so a command pays only for what it needs.
"""

from __future__ import annotations

import pickle
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

from sluice import __version__
from sluice.capabilities import Capabilities, configured, probed
from sluice.compiler import CompileCache, compile_project
from sluice.manifest import Manifest, artifact_file
from sluice.memory import collector_paused
from sluice.plugin.api import Artifact, ConfigSection
from sluice.plugin.manager import PluginManager
from sluice.project import Project, load_project
from sluice.target_files import HELPER_FROM_NODES, TargetWriter

CACHE_FILE = Path("target") / ".cache" / f"compile-{__version__}.pickle"


@dataclass
class Session:
    project_dir: Path
    env: str | None = None
    probe: bool = False  # capabilities from probes (online commands) instead of configuration
    probe_timeout: float = 5.0
    manager: PluginManager = field(default_factory=PluginManager)
    # set while `compile` writes target/: the compile hands it each artifact file at once
    writer: TargetWriter | None = None

    @cached_property
    def sections(self) -> list[tuple[str, ConfigSection]]:
        return self.manager.config_sections()

    @cached_property
    def cache(self) -> CompileCache:
        path = self.project_dir / CACHE_FILE
        try:
            # unpickling makes several hundred thousand objects: the collector would walk
            # them again and again meanwhile (half the load time of a 10,000-model cache)
            with path.open("rb") as handle, collector_paused():
                cache = pickle.load(handle)
            # vars(): a cache pickled before `layout` existed must not pass for a current one
            if (
                isinstance(cache, CompileCache)
                and vars(cache).get("layout") == CompileCache().layout
            ):
                return cache
        except (OSError, pickle.UnpicklingError, EOFError, AttributeError, ImportError, TypeError):
            pass  # no cache, or one from another version: start afresh
        return CompileCache()

    @cached_property
    def project(self) -> Project:
        return load_project(
            self.project_dir, env=self.env, sections=self.sections, yaml_cache=self.cache.yaml
        )

    @cached_property
    def capabilities(self) -> Capabilities:
        if self.probe:
            return probed(self.manager, self.project.runtime, self.probe_timeout)
        return configured(self.sections, self.project.runtime)

    @cached_property
    def manifest(self) -> Manifest:
        manifest = compile_project(
            self.project,
            self.manager,
            self.capabilities,
            sections=self.sections,
            cache=self.cache,
            on_artifacts=None if self.writer is None else self._hand_over,
        )
        self._save_cache()
        return manifest

    def write_target(self) -> list[Path]:
        """Compile (unless done already) and write ``target/``; returns the files of the compile.

        The compile hands each artifact file to the writer as soon as a plugin has compiled it
        (:mod:`sluice.target_files`); ``Manifest.write`` adds the rest and commits.
        """
        project = self.project
        size = len(project.sources) + len(project.models) + len(project.tests)
        with TargetWriter(self.target, helper=size >= HELPER_FROM_NODES) as writer:
            self.writer = writer
            try:
                return self.manifest.write(writer)
            finally:
                self.writer = None

    def _hand_over(self, artifacts: Sequence[Artifact]) -> None:
        """A node's artifacts with a text of their own, as they will be written unless another
        artifact names the same file (``Manifest.write`` sends that file again)."""
        assert self.writer is not None
        for artifact in artifacts:
            if artifact.file and artifact.text is not None:
                self.writer.add(artifact_file(artifact), self.project.redact(artifact.text))

    def _save_cache(self) -> None:
        path = self.project_dir / CACHE_FILE
        self.cache.prune({f"{file}:{digest}" for file, digest in self.project.file_hashes.items()})
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            temporary = path.with_suffix(".tmp")
            with temporary.open("wb") as handle:
                pickle.dump(self.cache, handle, protocol=pickle.HIGHEST_PROTOCOL)
            temporary.replace(path)
        except OSError:
            pass  # a read-only project still compiles, only without the cache

    @property
    def target(self) -> Path:
        return self.project_dir / "target"
