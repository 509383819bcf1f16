"""Which capabilities a run has: the set of loaded plugins whose sections are configured
(offline commands) or whose probe answered (commands that talk to the systems)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from pydantic import BaseModel

from sluice.hints import provider_of
from sluice.plugin.api import ConfigSection
from sluice.plugin.manager import PluginManager, ProbeReport


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
        provider = provider_of(capability)
        if provider is not None:
            return f"pip install {provider[0]} and configure {provider[1]}"
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
