"""One command's view of a project: its plugins, the project, its capabilities, its compile.

Each step is computed once, on first use, so a command pays only for what it needs.
"""

from __future__ import annotations

import hashlib
import json
import os
import pickle
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

from sluice import __version__
from sluice.capabilities import Capabilities, configured, probed
from sluice.compiler import CompileCache, compile_project
from sluice.manifest import Manifest
from sluice.plugin.api import ConfigSection
from sluice.plugin.manager import DISABLE_ENV, PluginManager
from sluice.project import Project, load_project

CACHE_FILE = Path("target") / ".cache" / f"compile-{__version__}.pickle"
FINGERPRINT_FILE = Path("target") / ".cache" / "fingerprint.json"


@dataclass
class Session:
    project_dir: Path
    env: str | None = None
    probe: bool = False  # capabilities from probes (online commands) instead of configuration
    probe_timeout: float = 5.0
    manager: PluginManager = field(default_factory=PluginManager)

    @cached_property
    def sections(self) -> list[tuple[str, ConfigSection]]:
        return self.manager.config_sections()

    @cached_property
    def cache(self) -> CompileCache:
        path = self.project_dir / CACHE_FILE
        try:
            with path.open("rb") as handle:
                cache = pickle.load(handle)
            if isinstance(cache, CompileCache):
                return cache
        except (OSError, pickle.UnpicklingError, EOFError, AttributeError, ImportError, TypeError):
            pass  # no cache, or one from another version: start afresh
        return CompileCache()

    @cached_property
    def project(self) -> Project:
        return load_project(self.project_dir, env=self.env, sections=self.sections, yaml_cache=self.cache.yaml)

    @cached_property
    def capabilities(self) -> Capabilities:
        if self.probe:
            return probed(self.manager, self.project.runtime, self.probe_timeout)
        return configured(self.sections, self.project.runtime)

    @cached_property
    def manifest(self) -> Manifest:
        manifest = compile_project(self.project, self.manager, self.capabilities, sections=self.sections, cache=self.cache)
        self._save_cache()
        return manifest

    def _save_cache(self) -> None:
        path = self.project_dir / CACHE_FILE
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

    # -- an unchanged project is not compiled again --------------------------------------------

    def fingerprint(self, variables: list[str]) -> str:
        """A hash of everything a compile depends on: the files it reads, the variables it
        looked up, the sluice and plugin versions, and how capabilities are found."""
        from importlib_metadata import entry_points

        from sluice.project.loader import ENV_VAR, project_files

        env = self.env or os.environ.get(ENV_VAR) or None
        digest = hashlib.sha1()
        plugins = sorted(f"{ep.name}={ep.dist.version if ep.dist else '?'}" for ep in entry_points(group="sluice"))
        settings = [os.environ.get(name, "") for name in (DISABLE_ENV, "SOURCE_DATE_EPOCH")]
        for part in (__version__, *plugins, *settings, str(env), str(self.probe)):
            digest.update(part.encode() + b"\0")
        root = self.project_dir.resolve()
        for path in project_files(root, env):
            digest.update(path.relative_to(root).as_posix().encode() + b"\0")
            digest.update(hashlib.sha1(path.read_bytes()).digest())
        for name in sorted(variables):
            digest.update(f"{name}={os.environ.get(name)}".encode() + b"\0")
        return digest.hexdigest()

    def unchanged_since_last_compile(self) -> tuple[dict[str, int], list[Path]] | None:
        """The node counts and files of the last compile when nothing it depends on changed."""
        try:
            record = json.loads((self.project_dir / FINGERPRINT_FILE).read_text(encoding="utf-8"))
            index = json.loads((self.target / ".cache" / "files.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        if record.get("fingerprint") != self.fingerprint(record.get("variables", [])):
            return None
        if not all((self.target / relative).is_file() for relative in index):
            return None
        counts: dict[str, int] = record.get("counts", {})
        files = [self.target / "manifest.json"] + [self.target / r for r in index if r != "manifest.json"]
        return counts, files

    def remember_compile(self, counts: dict[str, int]) -> None:
        variables = sorted(self.project.variables.used)
        record = {"fingerprint": self.fingerprint(variables), "variables": variables, "counts": counts}
        path = self.project_dir / FINGERPRINT_FILE
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(record, sort_keys=True), encoding="utf-8")
