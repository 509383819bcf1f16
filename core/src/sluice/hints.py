"""What to install when a project uses something no loaded plugin provides.

The core imports no plugin; it only knows, as text for its error hints, which first-party
distribution provides which runtime section, node block, ``materialized:`` kind and capability.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Distribution:
    name: str
    runtime: dict[str, tuple[str, ...]]  # runtime.<key> -> the capabilities it provides
    blocks: dict[str, tuple[str, ...]] = field(default_factory=dict)  # scope -> node block keys
    kinds: tuple[str, ...] = ()


FIRST_PARTY = (
    Distribution(
        "sluice-kafka",
        {"kafka": ("topics", "acls", "consumer_groups"), "schema_registry": ("schemas",)},
        {"model": ("schema",), "source": ("schema",)},
        ("topic",),
    ),
    Distribution(
        "sluice-flink", {"flink": ("stream_jobs", "savepoints")}, {"model": ("flink",)}, ("flink",)
    ),
    Distribution(
        "sluice-connect",
        {"connect": ("connectors",)},
        {"model": ("connector", "dlq"), "source": ("connector",)},
        ("sink",),
    ),
    Distribution(
        "sluice-conduktor",
        {"conduktor": ("virtual_topics", "masking", "rbac", "runtime_lineage")},
        kinds=("virtual_topic",),
    ),
    Distribution(
        "sluice-redpanda",
        {"redpanda": ("transforms", "users", "redpanda_connect")},
        {"model": ("transform", "redpanda_connect")},
        ("transform", "sink"),
    ),
)


def distribution_for_section(scope: str, key: str) -> str | None:
    """The distribution that owns ``runtime.<key>`` (scope "runtime") or a node's ``key:``."""
    for dist in FIRST_PARTY:
        if (scope == "runtime" and key in dist.runtime) or key in dist.blocks.get(scope, ()):
            return dist.name
    return None


def distribution_for_kind(kind: str) -> str | None:
    return next((d.name for d in FIRST_PARTY if kind in d.kinds), None)


def provider_of(capability: str) -> tuple[str, str] | None:
    """(distribution, ``runtime.<key>``) that would provide ``capability``."""
    for dist in FIRST_PARTY:
        for key, capabilities in dist.runtime.items():
            if capability in capabilities:
                return dist.name, f"runtime.{key}"
    return None


def unavailable(dist: str) -> tuple[str, str]:
    """Why a first-party distribution's plugin is missing, and the fix. Installed, not turned
    off with ``SLUICE_DISABLE_PLUGINS``, and still missing means it failed to load."""
    import os

    from importlib_metadata import PackageNotFoundError, distribution

    try:
        names = {ep.name for ep in distribution(dist).entry_points if ep.group == "sluice"}
    except PackageNotFoundError:
        names = set()
    blocked = {n.strip() for n in os.environ.get("SLUICE_DISABLE_PLUGINS", "").split(",")}
    if not names or names <= blocked:
        return "which is not installed", f"pip install {dist}"
    return (
        "which is installed but failed to load",
        "run sluice plugins to see its error, then reinstall it or fix what it imports",
    )
