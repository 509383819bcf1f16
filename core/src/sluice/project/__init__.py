"""The project a user writes: its format, and reading it from disk."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sluice.project.loader import Origin, Project, load_project

__all__ = ["Origin", "Project", "load_project"]


def __getattr__(name: str) -> Any:
    # loaded on first use, so `sluice.project.files` stays cheap to import
    if name in __all__:
        from sluice.project import loader

        return getattr(loader, name)
    raise AttributeError(name)
