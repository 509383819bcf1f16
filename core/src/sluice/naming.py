"""The names sluice gives what it runs, in one place: several plugins must agree on them.

A model's stream job is ``sluice.<project>.<model>`` (DESIGN §5): its Flink ``pipeline.name``,
its consumer group and the prefix of its transactional ids, or a Redpanda Connect stream's id.
sluice-kafka grants the jobs' ACLs on the prefix ``sluice.<project>.``, and runtime lineage
maps a consumer group back to its model by these names. A sink's connector is
``<project>-<model>``, and Kafka Connect's default consumer group for it is
``connect-<connector>``.
"""

from __future__ import annotations


def job_prefix(project: str) -> str:
    """What the name of every job (and interceptor) of ``project`` starts with."""
    return f"sluice.{project}."


def job_name(project: str, model: str) -> str:
    return job_prefix(project) + model


def test_job_name(project: str, test: str) -> str:
    """A continuous test's job: under ``test.`` so it never meets a model's name."""
    return f"{job_prefix(project)}test.{test}"


def connector_name(project: str, model: str) -> str:
    return f"{project}-{model}"


def connector_group(project: str, model: str) -> str:
    """Kafka Connect's consumer group of a sink connector (``connect-<connector name>``)."""
    return f"connect-{connector_name(project, model)}"
