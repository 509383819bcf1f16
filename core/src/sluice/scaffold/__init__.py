"""``sluice init``: a small working project to start from."""

from __future__ import annotations

import re
from importlib import resources
from pathlib import Path

from sluice.errors import SluiceError


def scaffold(directory: Path, name: str | None = None) -> list[Path]:
    """Copy the template project into ``directory``; never overwrite an existing file."""
    name = name or directory.resolve().name
    slug = re.sub(r"[^a-z0-9_-]+", "-", name.lower()).strip("-") or "my-project"
    if not slug[0].isalpha():
        slug = "p-" + slug
    template = resources.files("sluice.scaffold") / "template"
    files = sorted(_walk(template))
    clashes = [rel for rel, _ in files if (directory / rel).exists()]
    if clashes:
        raise SluiceError(
            f"{directory / clashes[0]} already exists",
            hint="run sluice init in an empty directory, or pass a new directory name",
        )
    created = []
    for relative, text in files:
        path = directory / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text.replace("__PROJECT_NAME__", slug), encoding="utf-8")
        created.append(path)
    return created


def _walk(root: resources.abc.Traversable, prefix: str = "") -> list[tuple[str, str]]:
    found = []
    stack = [(root, prefix)]
    while stack:
        folder, base = stack.pop()
        for entry in folder.iterdir():
            relative = f"{base}{entry.name}"
            if entry.is_dir():
                stack.append((entry, relative + "/"))
            elif not entry.name.endswith((".pyc",)) and entry.name != "__init__.py":
                found.append(
                    (relative.replace("dot.env", ".env"), entry.read_text(encoding="utf-8"))
                )
    return found
