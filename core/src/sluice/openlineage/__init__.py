"""OpenLineage for sluice: run events describing the project's jobs and the topics they read and
write, for any OpenLineage receiver (Marquez, DataHub, OpenMetadata, ...).

``events`` builds the events (names, facets, column lineage) from the compiled project,
``receiver`` posts them over HTTP, and ``apply_events`` follows an apply and says which job
started, runs, completed or failed. ``sluice lineage --format openlineage`` and
``sluice apply --openlineage-url`` are the two ways in; docs/lineage.md tells users about them.
"""
