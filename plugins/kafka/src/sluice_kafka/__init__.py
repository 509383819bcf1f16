"""sluice-kafka: Kafka topics, ACLs and the Schema Registry for sluice.

Owns ``runtime.kafka`` and ``runtime.schema_registry``, provides the ``topic`` materialization,
and compiles topic specs (``target/kafka/topics.json``), checks on source topics and ACL
bindings (``target/kafka/acls.json``).
"""

__version__ = "0.1.0"
