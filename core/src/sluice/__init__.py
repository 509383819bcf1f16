"""sluice: declarative streaming pipelines compiled to the systems a team already runs."""

__version__ = "0.1.0"
