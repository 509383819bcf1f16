"""``${VAR}`` and ``${VAR:-default}`` in project files, and the ``.env`` files that feed them.

Precedence, lowest first: ``.env``, ``.env.<env>``, the real process environment. Every missing
variable of a project is collected and reported in one error, not one at a time. Values of
variables whose names look secret are remembered so they can be masked in every output.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sluice.errors import Location, ProjectError

_REFERENCE = re.compile(r"\$\$|\$\{([^}]*)\}")
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_SECRET_NAME = re.compile(r"PASSWORD|PASSWD|SECRET|TOKEN|API_?KEY|CREDENTIAL|PRIVATE", re.I)
MASK = "****"


def read_dotenv(path: Path) -> dict[str, str]:
    """Read a ``.env`` file: ``NAME=value`` lines, ``export`` prefixes and quotes allowed."""
    values: dict[str, str] = {}
    if not path.is_file():
        return values
    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        line = line.removeprefix("export ").strip()
        name, sep, value = line.partition("=")
        name = name.strip()
        if not sep or not _NAME.match(name):
            raise ProjectError(
                "expected NAME=value",
                location=Location(path.name, number, 1),
                hint="each line of a .env file is NAME=value (comments start with #)",
            )
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
            value = value[1:-1]
        values[name] = value
    return values


@dataclass
class Variables:
    """The variables a project may reference, and what resolving them found."""

    values: Mapping[str, str]
    missing: dict[str, Location] = field(default_factory=dict)
    secrets: set[str] = field(default_factory=set)
    used: set[str] = field(default_factory=set)  # every name looked up, set or not

    @classmethod
    def for_project(
        cls, project_dir: Path, env: str | None, environ: Mapping[str, str]
    ) -> Variables:
        merged = read_dotenv(project_dir / ".env")
        if env:
            merged.update(read_dotenv(project_dir / f".env.{env}"))
        merged.update(environ)
        return cls(merged)

    def get(self, name: str) -> str | None:
        self.used.add(name)
        value = self.values.get(name)
        if value is not None and _SECRET_NAME.search(name) and value:
            self.secrets.add(value)
        return value

    def interpolate(self, text: str, location: Location) -> str:
        """Replace references in ``text``; missing names are recorded, not raised."""
        if "$" not in text:
            return text

        def replace(match: re.Match[str]) -> str:
            if match.group(0) == "$$":
                return "$"
            body = match.group(1)
            name, sep, default = body.partition(":-")
            if not _NAME.match(name):
                raise ProjectError(
                    f"'${{{body}}}' is not a valid variable reference",
                    location=location,
                    hint="write ${NAME} or ${NAME:-default}; write $$ for a literal $",
                )
            value = self.get(name)
            if value is None or (sep and value == ""):
                if sep:
                    return default
                self.missing.setdefault(name, location)
                return ""
            return value

        return _REFERENCE.sub(replace, text)

    def interpolate_tree(self, value: Any, locate: Any, path: tuple[Any, ...] = ()) -> Any:
        """Interpolate every string in a YAML value tree; ``locate(path)`` gives locations."""
        if isinstance(value, str):
            return self.interpolate(value, locate(path)) if "$" in value else value
        if isinstance(value, dict):
            return {k: self.interpolate_tree(v, locate, (*path, k)) for k, v in value.items()}
        if isinstance(value, list):
            return [self.interpolate_tree(v, locate, (*path, i)) for i, v in enumerate(value)]
        return value

    def raise_missing(self) -> None:
        """One error that lists every variable the project references but nobody set."""
        if not self.missing:
            return
        names = sorted(self.missing)
        first = self.missing[names[0]]
        if len(names) == 1:
            where = names[0]  # its location heads the message already
        else:
            where = ", ".join(f"{name} ({self.missing[name]})" for name in names)
        raise ProjectError(
            f"environment variable{'s' if len(names) > 1 else ''} not set: {where}",
            location=first,
            hint="set them in the environment or in .env / .env.<env>, "
            "or give a default with ${NAME:-default}",
        )


class Redactor:
    """Masks secret values in any text that leaves sluice (artifacts, logs, plan output)."""

    def __init__(self, secrets: set[str] | None = None) -> None:
        self._secrets = {s for s in (secrets or set()) if s}

    def add(self, secret: str) -> None:
        if secret:
            self._secrets.add(secret)

    def __call__(self, text: str) -> str:
        # longest first, so a secret containing another is masked whole
        for secret in sorted(self._secrets, key=len, reverse=True):
            if secret in text:
                text = text.replace(secret, MASK)
        return text


def secret_values(sections: Iterable[Any]) -> list[str]:
    """Every non-empty ``SecretStr`` value in these pydantic models, nested ones included.

    Plugins pass them to their clients so that an error text quoting a request never shows a
    password; the core masks them in everything it writes.
    """
    from pydantic import BaseModel, SecretStr

    found: list[str] = []
    stack = [s for s in sections if isinstance(s, BaseModel)]
    while stack:
        model = stack.pop()
        for name in type(model).model_fields:
            value = getattr(model, name, None)
            if isinstance(value, SecretStr) and value.get_secret_value():
                found.append(value.get_secret_value())
            elif isinstance(value, BaseModel):
                stack.append(value)
    return found
