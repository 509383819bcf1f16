"""Which capabilities a run has: the set of loaded plugins whose sections are configured
(offline commands) or whose probe answered (commands that talk to the systems)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from pydantic import BaseModel

from sluice.plugin.api import ConfigSection
from sluice.plugin.manager import PluginManager, ProbeReport

# What a user installs to get a capability no installed plugin offers (for error hints only).
KNOWN_PROVIDERS = {
    "topics": ("sluice-kafka", "runtime.kafka"),
    "acls": ("sluice-kafka", "runtime.kafka"),
    "schemas": ("sluice-kafka", "runtime.schema_registry"),
    "consumer_groups": ("sluice-kafka", "runtime.kafka"),
    "stream_jobs": ("sluice-flink", "runtime.flink"),
    "savepoints": ("sluice-flink", "runtime.flink"),
    "connectors": ("sluice-connect", "runtime.connect"),
    "virtual_topics": ("sluice-conduktor", "runtime.conduktor"),
    "masking": ("sluice-conduktor", "runtime.conduktor"),
    "runtime_lineage": ("sluice-conduktor", "runtime.conduktor"),
    "transforms": ("sluice-redpanda", "runtime.redpanda"),
}


@dataclass(frozen=True)
class Capabilities:
    """Capability -> plugin that provides it, and how the set was found."""

    provided: Mapping[str, str]
    mode: str  # "configured" or "probed"
    reports: Sequence[ProbeReport] = ()

    def __contains__(self, capability: object) -> bool:
        return capability in self.provided

    def missing_hint(self, capability: str, sections: Sequence[tuple[str, ConfigSection]]) -> str:
        """How to get ``capability``: configure an installed plugin, or install one."""
        for plugin, section in sections:
            if section.scope == "runtime" and capability in section.capabilities:
                if self.mode == "probed":
                    reason = next(
                        (r.error for r in self.reports if r.plugin == plugin and r.error), None
                    )
                    if reason:
                        return f"plugin '{plugin}' provides it but is not reachable: {reason}"
                return f"configure runtime.{section.key} (plugin '{plugin}' provides it)"
        if capability in KNOWN_PROVIDERS:
            dist, key = KNOWN_PROVIDERS[capability]
            return f"pip install {dist} and configure {key}"
        return "no installed plugin provides it"


def configured(
    sections: Sequence[tuple[str, ConfigSection]], runtime: Mapping[str, BaseModel]
) -> Capabilities:
    provided: dict[str, str] = {}
    for plugin, section in sections:
        if section.scope == "runtime" and section.key in runtime:
            for capability in section.capabilities:
                provided.setdefault(capability, plugin)
    return Capabilities(provided, "configured")


def probed(
    manager: PluginManager, runtime: Mapping[str, BaseModel], timeout: float
) -> Capabilities:
    reports = manager.probe(runtime, timeout)
    provided: dict[str, str] = {}
    for report in reports:
        if report.available and report.result is not None:
            for capability in report.result.capabilities:
                provided.setdefault(capability, report.plugin)
    return Capabilities(provided, "probed", tuple(reports))
