"""The project a user writes: its format, and reading it from disk."""

from sluice.project.loader import Origin, Project, load_project

__all__ = ["Origin", "Project", "load_project"]
