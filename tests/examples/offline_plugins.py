"""sluice-kafka, sluice-flink and sluice-connect as they compile, without their live systems.

Online commands probe every plugin and compile the whole project with what the probes offer,
and each configured plugin plans against its system whatever the selection (Flink looks for
jobs that left the project, Kafka reads its state topic). A story about another plugin's
systems (the fake Conduktor servers) therefore loads these stand-ins instead of the real three
(see ``offline_stack_plugins`` in conftest.py): each keeps its plugin's compile-time hooks
(sections, materializations, compilers, security, test types), so the project compiles exactly
as with the real plugin; its probe offers what its configured sections provide without
contacting anything; it has no plan, apply or status hooks, so it changes nothing and plans
nothing.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from types import ModuleType
from typing import Any

from sluice.plugin import hookimpl
from sluice.plugin.api import ProbeResult

COMPILE_HOOKS = (
    "sluice_config_sections",
    "sluice_materializations",
    "sluice_compile",
    "sluice_secure",
    "sluice_test_types",
)


def offline(plugin_module: str) -> ModuleType:
    """A plugin made of ``plugin_module``'s compile-time hooks and a probe from configuration."""
    real = importlib.import_module(plugin_module)
    stand_in = ModuleType(f"{plugin_module}.offline")
    for hook in COMPILE_HOOKS:
        if hasattr(real, hook):
            setattr(stand_in, hook, getattr(real, hook))
    sections = [s for s in real.sluice_config_sections() if s.scope == "runtime"]

    @hookimpl
    def sluice_probe(runtime: Mapping[str, Any], timeout: float) -> ProbeResult | None:
        offered = tuple(c for s in sections if s.key in runtime for c in s.capabilities)
        if not offered:
            return None
        return ProbeResult(True, offered, detail="offline stand-in: nothing contacted")

    stand_in.sluice_probe = sluice_probe  # type: ignore[attr-defined]
    return stand_in


kafka = offline("sluice_kafka.plugin")
flink = offline("sluice_flink.plugin")
connect = offline("sluice_connect.plugin")
