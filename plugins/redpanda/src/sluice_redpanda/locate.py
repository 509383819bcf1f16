"""Where a project-level setting is written, and its text as written.

Nodes carry their origin, but ``runtime:`` and ``defaults:`` do not, and the loader has already
replaced ``${VAR}`` in them. Errors about those settings (a literal password, an unknown
topic property in ``defaults.topic.config``) re-read the YAML to point at the line and to see
the value before interpolation. Only error paths and the few checks that need the raw text
read it, so compiling a project pays nothing for it otherwise.
"""

from __future__ import annotations

from typing import Any

from sluice.errors import Location
from sluice.project import Project
from sluice.project.loader import find_project_file
from sluice.project.yamlfile import YamlPath, read_yaml
from sluice_redpanda.variables import MISSING, value_at


def project_setting(
    project: Project, path: YamlPath, *, key: bool = False
) -> tuple[Any, Location] | None:
    """The value at ``path`` as written (``${VAR}`` unresolved) and its location (of its key
    with ``key``): in the environment's file when that sets it, else in stream_project.yml;
    None when neither does."""
    files = []
    if project.env:
        files.append(project.root / "environments" / f"{project.env}.yml")
    files.append(find_project_file(project.root))
    for file in files:
        if not file.is_file():
            continue
        doc = read_yaml(file, file.relative_to(project.root).as_posix())
        value = value_at(doc.data, path)
        if value is not MISSING:
            return value, doc.locate((*path, "__key__") if key else path)
    return None
