"""sluice-flink: Flink SQL jobs for sluice.

Owns ``runtime.flink`` and each model's ``flink:`` block, provides the ``flink``
materialization, and compiles every model that a Flink job fills (``flink`` models, and
``topic`` models with SQL) into the statements of one job (``target/flink/<model>.sql``).
"""

__version__ = "0.1.0"
