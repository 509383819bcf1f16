"""The errors sluice raises, as one small hierarchy the CLI knows how to render.

Every error a user can cause is a :class:`SluiceError`. It carries where the problem is
(:class:`Location`), what is wrong (the message) and how to fix it (the hint). The CLI prints
those three things and nothing else; ``--debug`` adds the traceback.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Location:
    """A place in a project file: 1-based line and column, either may be unknown."""

    file: str
    line: int | None = None
    column: int | None = None

    def __str__(self) -> str:
        text = self.file
        if self.line is not None:
            text += f":{self.line}"
            if self.column is not None:
                text += f":{self.column}"
        return text

    def shifted(self, lines: int, column: int | None = None) -> Location:
        """The location ``lines`` below this one (for positions inside an embedded block)."""
        line = (self.line or 1) + lines
        return Location(self.file, line, column)


class SluiceError(Exception):
    """Base class of every error sluice reports to a user."""

    exit_code = 1

    def __init__(
        self,
        message: str,
        *,
        location: Location | None = None,
        hint: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.location = location
        self.hint = hint

    def render(self) -> str:
        """The text a user sees: ``file:line:col: message`` then the hint."""
        head = f"{self.location}: {self.message}" if self.location else self.message
        return f"{head}\n  hint: {self.hint}" if self.hint else head


class ProjectError(SluiceError):
    """The project's files are wrong: bad YAML, unknown keys, bad references, bad SQL."""


class ProjectErrors(ProjectError):
    """Several project errors found in one pass, reported together."""

    def __init__(self, errors: Sequence[SluiceError]) -> None:
        self.errors = list(errors)
        first = self.errors[0]
        super().__init__(first.message, location=first.location, hint=first.hint)

    shown = 20  # beyond this the list hides more than it tells

    def render(self) -> str:
        body = "\n".join(error.render() for error in self.errors[: self.shown])
        count = len(self.errors)
        if count > self.shown:
            body += f"\n... and {count - self.shown} more"
        return f"{body}\n{count} error{'s' if count != 1 else ''} found"


class GovernanceError(ProjectError):
    """The project breaks a rule of its own ``governance:`` block."""


class CapabilityError(SluiceError):
    """A node needs a capability that no loaded, configured (or reachable) plugin provides."""


class SelectionError(SluiceError):
    """A ``--select`` / ``--exclude`` expression is malformed or names nothing known."""


class PluginError(SluiceError):
    """A plugin is missing, broken, or answered a hook with something unusable."""


class PlanError(SluiceError):
    """The live systems cannot be brought to the project's state as asked (e.g. fewer
    partitions); the plan says what to do instead."""


class RemoteError(SluiceError):
    """A system sluice talks to (Kafka, Flink, Connect, ...) refused or failed a request."""


class ConcurrencyError(SluiceError):
    """Another run holds the lock of this project and environment."""


class OpenLineageError(SluiceError):
    """An OpenLineage receiver URL is unusable, or the receiver refused or missed events."""


class DocsError(SluiceError):
    """The docs site cannot be built or served (no compiled project, a port already taken)."""


def did_you_mean(word: str, candidates: Iterable[str]) -> str | None:
    """A "did you mean ..." hint naming the closest candidate, or None when none is close."""
    matches = difflib.get_close_matches(word, list(candidates), n=1, cutoff=0.6)
    return f"did you mean '{matches[0]}'?" if matches else None
