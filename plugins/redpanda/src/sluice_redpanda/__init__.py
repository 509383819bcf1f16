"""sluice-redpanda: Redpanda data transforms through the Redpanda Admin API."""

__version__ = "0.1.0"
