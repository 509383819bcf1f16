"""sluice-conduktor: Conduktor Gateway virtual topics and masking, Console RBAC and lineage."""

__version__ = "0.1.0"
