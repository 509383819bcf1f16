"""sluice-example-webhook: ``materialized: webhook`` forwards a model's records to an HTTP URL.

The hook implementations live in :mod:`sluice_webhook.plugin`; sluice finds them through the
entry point ``[project.entry-points.sluice] webhook = "sluice_webhook.plugin"``.
"""

__version__ = "0.1.0"

PLUGIN = "webhook"  # the entry point's name: every artifact and change carries it
