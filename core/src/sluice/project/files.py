"""Which files make a project. Kept free of heavy imports: the check for an unchanged
project runs before anything else is loaded."""

from __future__ import annotations

import os
from pathlib import Path

PROJECT_FILES = ("stream_project.yml", "stream_project.yaml")
FOLDERS = {"sources": "sources", "models": "models", "tests": "tests", "exposures": "exposures"}
ENV_VAR = "SLUICE_ENV"


def discover(root: Path, folder: str) -> list[Path]:
    """The YAML and SQL files under ``root/folder``, recursively, in sorted order."""
    base = root / folder
    if not base.is_dir():
        return []
    found = []
    for dirpath, dirnames, filenames in os.walk(base):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in filenames:
            if name.endswith((".yml", ".yaml", ".sql")) and not name.startswith("."):
                found.append(Path(dirpath) / name)
    return sorted(found)


def project_files(root: Path, env: str | None) -> list[Path]:
    """Every file a load of ``root`` reads."""
    found = [root / name for name in PROJECT_FILES if (root / name).is_file()]
    extra = [".env", *([f".env.{env}", f"environments/{env}.yml"] if env else [])]
    found += [root / name for name in extra if (root / name).is_file()]
    for folder in (*FOLDERS.values(), "macros"):
        found += discover(root, folder)
    return found
