"""The compiled project as a value, and its files under ``target/``.

``target/manifest.json`` holds every node, the graph maps, and each node's artifacts; each
plugin's readable artifacts go to ``target/<plugin>/``. The bytes depend only on the project:
keys are sorted and ``generated_at`` is the modification time of the newest project file
(or ``SOURCE_DATE_EPOCH`` when set), so an unchanged project compiles to identical files.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

from sluice import __version__
from sluice.graph import Graph
from sluice.memory import collector_paused
from sluice.nodes import Node
from sluice.plugin.api import Artifact
from sluice.selection import NodeFacts

if TYPE_CHECKING:
    from sluice.capabilities import Capabilities
    from sluice.project import Project

SCHEMA_VERSION = 1


@dataclass(frozen=True)
class Manifest:
    project: Project
    graph: Graph
    nodes: Mapping[str, Node]
    artifacts: Mapping[str, Sequence[Artifact]]
    capabilities: Capabilities

    def facts(self) -> dict[str, NodeFacts]:
        """What ``--select`` matches on, for every node."""
        return {
            uid: NodeFacts(
                unique_id=uid,
                name=node.name,
                resource_type=node.resource_type,
                path=node.file,
                tags=tuple(node.tags),
                materialized=node.materialized,
                plugins=tuple(sorted({a.plugin for a in self.artifacts.get(uid, ())})),
            )
            for uid, node in self.nodes.items()
        }

    @cached_property
    def artifact_owners(self) -> dict[str, str]:
        """Each artifact's key -> the unique id of the node it was compiled for (whole project)."""
        return {a.key: uid for uid, artifacts in self.artifacts.items() for a in artifacts}

    def all_artifacts(self, selected: set[str] | None = None) -> list[Artifact]:
        return [
            artifact
            for uid in self.graph.topological_order()
            if selected is None or uid in selected
            for artifact in self.artifacts.get(uid, ())
        ]

    def to_json(self) -> dict[str, Any]:
        project = self.project
        return {
            "metadata": {
                "sluice_version": __version__,
                "schema_version": SCHEMA_VERSION,
                "project_name": project.info.name,
                "project_version": project.info.version,
                "environment": project.env,
                "generated_at": _generated_at(project),
                "capabilities": dict(sorted(self.capabilities.provided.items())),
                "capability_mode": self.capabilities.mode,
            },
            "nodes": {uid: self._node_json(node) for uid, node in sorted(self.nodes.items())},
            "parent_map": self.graph.parent_map(),
            "child_map": self.graph.child_map(),
        }

    def _node_json(self, node: Node) -> dict[str, Any]:
        spec = node.spec
        data: dict[str, Any] = {
            "unique_id": node.unique_id,
            "name": node.name,
            "resource_type": node.resource_type,
            "depends_on": list(node.depends_on),
            "original_file_path": node.file,
            "line": node.line,
            "tags": list(node.tags),
            "description": getattr(spec, "description", None),
            "owner": getattr(spec, "owner", None),
        }
        if node.resource_type in ("source", "model"):
            data["columns"] = [c.to_json() for c in node.columns]
            data["topic"] = node.topic
            data["format"] = node.format
        if node.resource_type == "model":
            data["materialized"] = node.materialized
            data["plugin"] = node.plugin
            data["sql"] = node.sql
            if node.analysis is not None:
                data["stateful"] = node.analysis.stateful
                data["stateful_constructs"] = list(node.analysis.stateful_constructs)
                data["updating"] = node.analysis.updating
        if node.resource_type == "test":
            data["test_type"] = spec.type
            data["on_failure"] = spec.on_failure
            data["assertions"] = list(spec.assertions)
        if node.resource_type == "exposure":
            data["exposure_type"] = spec.type
            data["consumer_group"] = spec.consumer_group
            data["url"] = spec.url
        data["artifacts"] = [
            {"plugin": a.plugin, "kind": a.kind, "name": a.name, "spec": a.spec, "file": a.file}
            for a in self.artifacts.get(node.unique_id, ())
        ]
        return data

    def write(self, target: Path) -> list[Path]:
        """Write manifest.json and the readable artifacts; returns the files of this compile.

        A file whose content did not change is not rewritten, and files of a previous compile
        that no node produces any more are removed (an index under ``target/.cache`` records
        what sluice wrote, so nothing else in ``target/`` is touched).
        """
        with collector_paused():
            return self._write(target)

    def _write(self, target: Path) -> list[Path]:
        redact = self.project.redact
        artifacts = {relative: redact(text) for relative, text in self._artifact_texts()}
        files = _TargetFiles(target)
        # Creating thousands of files is kernel work and the manifest's JSON is Python work:
        # the artifact files are written on a thread while the JSON is built.
        with _written_meanwhile(files.to_write(artifacts)):
            manifest = _compact_json(self.to_json())
            _write_files(files.to_write({"manifest.json": redact(manifest) + "\n"}))
        files.finish()
        return [target / "manifest.json", *(target / relative for relative in artifacts)]

    def _artifact_texts(self) -> list[tuple[str, str]]:
        """Each readable artifact file (``<plugin>/<file>``) and its text, by path."""
        grouped: dict[str, list[Artifact]] = {}
        for artifact in self.all_artifacts():
            if artifact.file:
                grouped.setdefault(f"{artifact.plugin}/{artifact.file}", []).append(artifact)
        texts = []
        for relative, items in sorted(grouped.items()):
            if len(items) == 1 and items[0].text is not None:
                text = items[0].text
            else:
                specs = [dict(a.spec) for a in sorted(items, key=lambda a: a.name)]
                text = json.dumps(specs, indent=2, sort_keys=True, default=str) + "\n"
            texts.append((relative, text))
        return texts


def _compact_json(value: Mapping[str, Any]) -> str:
    """``json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)``, the same text,
    encoded by orjson: about six times as fast for a manifest of 10,000 nodes (20 MB), so it
    hardly stalls the thread that writes the artifact files meanwhile."""
    options = orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS
    return orjson.dumps(value, default=str, option=options).decode("utf-8")


class _TargetFiles:
    """The files sluice keeps in ``target/``: which to write, and the index of what it wrote.

    The index (``.cache/files.json``) maps each file to the SHA-1 of its text; it is written
    last, so files of a compile that stopped half-way are compared and rewritten next time.
    """

    def __init__(self, target: Path) -> None:
        self.target = target
        self.index_path = target / ".cache" / "files.json"
        try:
            self.previous: dict[str, str] = json.loads(self.index_path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            self.previous = {}
        self.current: dict[str, str] = {}
        self.existing = _Listings(target)

    def to_write(self, files: Mapping[str, str]) -> list[tuple[Path, str]]:
        """The files among ``files`` (relative path -> text) that are new or changed."""
        changed = []
        for relative, text in files.items():
            digest = hashlib.sha1(text.encode("utf-8")).hexdigest()
            self.current[relative] = digest
            if self.previous.get(relative) != digest or not self.existing.has(relative):
                changed.append((self.target / relative, text))
        return changed

    def finish(self) -> None:
        """Remove the files of the last compile that this one did not produce; record the index."""
        for relative in self.previous.keys() - self.current.keys():
            (self.target / relative).unlink(missing_ok=True)
        self.index_path.parent.mkdir(parents=True, exist_ok=True)
        self.index_path.write_text(json.dumps(self.current, sort_keys=True), encoding="utf-8")


# Below this many files a thread costs more than it hides.
_WRITER_THREAD_FROM = 200
# While the writer thread runs, how soon it gets the GIL back after each system call (the
# default 5 ms would let it create only a few hundred files per second next to busy Python).
_WRITER_SWITCH_INTERVAL = 0.0001


@contextmanager
def _written_meanwhile(items: list[tuple[Path, str]]) -> Iterator[None]:
    """Write ``items`` on a thread while the block runs (at once, for a few files)."""
    if len(items) < _WRITER_THREAD_FROM:
        _write_files(items)
        yield
        return
    failures: list[BaseException] = []

    def write() -> None:
        try:
            _write_files(items)
        except BaseException as exc:  # re-raised in the caller's thread
            failures.append(exc)

    writer = threading.Thread(target=write, name="sluice-artifact-writer")
    interval = sys.getswitchinterval()
    sys.setswitchinterval(_WRITER_SWITCH_INTERVAL)
    writer.start()
    try:
        yield
    finally:
        writer.join()
        sys.setswitchinterval(interval)
    if failures:
        raise failures[0]


def _write_files(items: list[tuple[Path, str]]) -> None:
    for folder in {path.parent for path, _ in items}:
        folder.mkdir(parents=True, exist_ok=True)
    for path, text in items:
        _write_file(path, text)


class _Listings:
    """Which files exist, from one directory listing per folder instead of a stat per file."""

    def __init__(self, target: Path) -> None:
        self.target = target
        self.files: dict[str, set[str]] = {}

    def has(self, relative: str) -> bool:
        folder, _, name = relative.rpartition("/")
        if folder not in self.files:
            try:
                with os.scandir(self.target / folder) as entries:
                    self.files[folder] = {e.name for e in entries if e.is_file()}
            except OSError:
                self.files[folder] = set()
        return name in self.files[folder]


def _write_file(path: Path, text: str) -> None:
    """``path.write_text(text, encoding="utf-8")`` without a text-mode file object, which
    costs more than the write itself for a small file."""
    if os.linesep != "\n":
        text = text.replace("\n", os.linesep)
    content = memoryview(text.encode("utf-8"))
    handle = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o666)
    try:
        while content:
            content = content[os.write(handle, content) :]
    finally:
        os.close(handle)


def _generated_at(project: Project) -> str:
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    if epoch and epoch.isdigit():
        stamp = float(epoch)
    else:
        stamp = (
            max((project.root / f).stat().st_mtime for f in project.file_hashes)
            if project.file_hashes
            else 0.0
        )
    return datetime.fromtimestamp(stamp, UTC).isoformat(timespec="seconds")
