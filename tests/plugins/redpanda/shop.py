"""The shop project the Redpanda stories are told with, and small helpers to read results."""

from __future__ import annotations

from pathlib import Path
from typing import Any

WASM = b"\x00asm\x01\x00\x00\x00identity"
SOURCES = """sources:
  - name: orders_raw
    topic: orders.raw
    columns: [{ name: id, type: STRING }]
"""


def project_yml(runtime: str, models: str, extra: str = "") -> str:
    """``stream_project.yml`` of the shop: ``runtime`` and ``models`` are indented YAML."""
    return f"project: {{ name: shop }}\nruntime:\n{runtime}{extra}{SOURCES}models:\n{models}"


def make(sluice_project: Any, runtime: str, models: str, extra: str = "") -> Any:
    project = sluice_project({"stream_project.yml": project_yml(runtime, models, extra)})
    wasm = project.path / "transforms" / "clean.wasm"
    wasm.parent.mkdir(parents=True, exist_ok=True)
    wasm.write_bytes(WASM)
    return project


def rewrite(project: Any, runtime: str, models: str, extra: str = "") -> None:
    project.write({"stream_project.yml": project_yml(runtime, models, extra)})


def flat(text: str) -> str:
    return " ".join(text.split())


def line_of(project: Any, needle: str, file: str = "stream_project.yml") -> int:
    """The 1-based line of the first line of ``file`` that contains ``needle``."""
    lines = (project.path / file).read_text().splitlines()
    return next(i for i, line in enumerate(lines, 1) if needle in line)


def everything_written(project: Any) -> str:
    """Every file sluice wrote under target/ and .sluice/, as one text."""
    texts = []
    for folder in ("target", ".sluice"):
        for path in sorted(Path(project.path, folder).rglob("*")):
            if path.is_file():
                texts.append(path.read_text(errors="replace"))
    return "\n".join(texts)
