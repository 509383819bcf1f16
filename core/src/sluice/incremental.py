"""Recognising a project that has not changed since its last compile.

The fingerprint covers every file a load reads, the values of the variables the last compile
looked up, the versions of sluice and of the installed plugins, and the settings that change
what a compile writes. It is computed before anything heavy is imported.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable
from pathlib import Path

from sluice import __version__
from sluice.project.files import ENV_VAR, project_files

FINGERPRINT_FILE = Path("target") / ".cache" / "fingerprint.json"
INDEX_FILE = Path("target") / ".cache" / "files.json"
_SETTINGS = ("SLUICE_DISABLE_PLUGINS", "SOURCE_DATE_EPOCH")


def fingerprint(project_dir: Path, env: str | None, mode: str, variables: Iterable[str]) -> str:
    from importlib_metadata import entry_points

    env = env or os.environ.get(ENV_VAR) or None
    digest = hashlib.sha1()
    plugins = sorted(
        f"{ep.name}={ep.dist.version if ep.dist else '?'}" for ep in entry_points(group="sluice")
    )
    settings = [os.environ.get(name, "") for name in _SETTINGS]
    for part in (__version__, *plugins, *settings, str(env), mode):
        digest.update(part.encode() + b"\0")
    root = project_dir.resolve()
    for path in project_files(root, env):
        digest.update(path.relative_to(root).as_posix().encode() + b"\0")
        digest.update(hashlib.sha1(path.read_bytes()).digest())
    for name in sorted(variables):
        digest.update(f"{name}={os.environ.get(name)}".encode() + b"\0")
    return digest.hexdigest()


def unchanged(
    project_dir: Path, env: str | None, mode: str
) -> tuple[dict[str, int], list[Path]] | None:
    """The node counts and files of the last compile if nothing it depends on changed."""
    try:
        record = json.loads((project_dir / FINGERPRINT_FILE).read_text(encoding="utf-8"))
        index = json.loads((project_dir / INDEX_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if record.get("fingerprint") != fingerprint(
        project_dir, env, mode, record.get("variables", [])
    ):
        return None
    target = project_dir / "target"
    names = set(os.listdir(target)) if target.is_dir() else set()
    # one listing per folder instead of a stat per file
    listings: dict[str, set[str]] = {}
    for relative in index:
        folder, _, name = relative.rpartition("/")
        if folder not in listings:
            listings[folder] = (
                set(os.listdir(target / folder)) if (target / folder).is_dir() else set()
            )
        if name not in (listings[folder] if folder else names):
            return None
    counts: dict[str, int] = record.get("counts", {})
    files = [target / "manifest.json"] + [target / r for r in index if r != "manifest.json"]
    return counts, files


def remember(
    project_dir: Path, env: str | None, mode: str, variables: Iterable[str], counts: dict[str, int]
) -> None:
    names = sorted(variables)
    record = {
        "fingerprint": fingerprint(project_dir, env, mode, names),
        "variables": names,
        "counts": counts,
    }
    path = project_dir / FINGERPRINT_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(record, sort_keys=True), encoding="utf-8")
