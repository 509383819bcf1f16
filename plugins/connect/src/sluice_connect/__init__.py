"""sluice-connect: Kafka Connect connectors for sluice.

Owns ``runtime.connect`` and the ``connector:`` block of models and sources, provides the
``sink`` materialization, and compiles each sink (and each source with a connector) into a
connector config (``target/connect/<project>-<name>.json``).
"""

__version__ = "0.1.0"
