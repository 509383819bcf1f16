"""The standalone-versus-enhanced table, generated from the first-party plugins' own
registrations (config sections, materializations, test types, dev services) so it cannot drift.

``python -m sluice.capability_reference > docs/capabilities.md`` regenerates it; a test fails
when the committed file differs. Every first-party plugin must be installed to generate it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TypeVar

from sluice.capabilities import Capabilities, configured
from sluice.hints import FIRST_PARTY
from sluice.plugin.api import ConfigSection, Materialization
from sluice.plugin.manager import PluginManager
from sluice.reference import key_table

YES, NO = "yes", "-"
T = TypeVar("T")


class PluginsMissing(Exception):
    """A first-party distribution is not installed (or is disabled), so the table would lie."""


@dataclass(frozen=True)
class Stack:
    """A set of plugins installed together, each with all its runtime sections configured."""

    title: str
    plugins: frozenset[str]


@dataclass(frozen=True)
class Registrations:
    """What the first-party plugins declare, by plugin name, in the order of ``FIRST_PARTY``."""

    plugins: tuple[str, ...]  # entry-point names
    distributions: dict[str, str]  # plugin -> distribution
    sections: tuple[tuple[str, ConfigSection], ...]
    kinds: tuple[tuple[str, Materialization], ...]
    test_types: tuple[tuple[str, str], ...]
    dev_services: tuple[tuple[str, str], ...]

    def capabilities(self, stack: Stack) -> Capabilities:
        """What a run has when exactly the stack's plugins are installed and configured."""
        own = [(p, s) for p, s in self.sections if p in stack.plugins]
        # configured() looks only at which runtime keys are present, not at their values
        runtime = {s.key: s.model.model_construct() for _, s in own if s.scope == "runtime"}
        return configured(own, runtime)


def load_registrations(manager: PluginManager | None = None) -> Registrations:
    manager = manager or PluginManager()
    by_dist = {info.distribution: info.name for info in manager.plugins if info.error is None}
    missing = [d.name for d in FIRST_PARTY if d.name not in by_dist]
    if missing:
        raise PluginsMissing(
            "install every first-party plugin (and leave SLUICE_DISABLE_PLUGINS unset) to "
            "generate the table; missing: " + ", ".join(missing)
        )
    plugins = tuple(by_dist[d.name] for d in FIRST_PARTY)
    order = {name: index for index, name in enumerate(plugins)}

    def ours(pairs: Iterable[tuple[str, T]]) -> tuple[tuple[str, T], ...]:
        # a stable sort: plugins follow FIRST_PARTY, each keeps the order it registered in
        return tuple(sorted((p for p in pairs if p[0] in order), key=lambda p: order[p[0]]))

    kinds = [
        pair for providers in manager.materializations().providers.values() for pair in providers
    ]
    tests = [(plugin, name) for name, owners in manager.test_types().items() for plugin in owners]
    services = [(plugin, service.name) for plugin, service in manager.dev_services()]
    return Registrations(
        plugins=plugins,
        distributions={by_dist[d.name]: d.name for d in FIRST_PARTY},
        sections=ours(manager.config_sections()),
        kinds=ours(kinds),
        test_types=ours(tests),
        dev_services=ours(services),
    )


def stacks(plugins: Sequence[str]) -> list[Stack]:
    """The first plugin alone, then it with each other plugin, then all of them."""
    base, *others = plugins
    found = [Stack(f"{base} only", frozenset([base]))]
    found += [Stack(f"+ {other}", frozenset([base, other])) for other in others]
    found.append(Stack("all", frozenset(plugins)))
    return found


def render_capability_reference(registrations: Registrations | None = None) -> str:
    found = registrations or load_registrations()
    columns = stacks(found.plugins)
    base = found.plugins[0]
    lines = [
        "# What works with which plugins",
        "",
        "Generated from the first-party plugins' registrations by",
        "`python -m sluice.capability_reference`; do not edit.",
        "",
        f"sluice needs only `sluice-core` and `{found.distributions[base]}`. Every other plugin",
        "adds features when it is installed and its `runtime:` section is configured. Each",
        f"column is one such installation: `{base}` alone, `{base}` with one more plugin",
        "(`+ <plugin>`), and all of them together. Offline commands (validate, compile, ls,",
        "lineage) count a plugin when its section is configured; commands that talk to the",
        "systems count it only when its probe answers, so a system that is down drops out.",
        "",
        "## `materialized:` kinds",
        "",
        "A model's kind works when its plugin is installed and the run has every capability",
        "the kind needs. A kind that is missing is a compile error that names the capability,",
        "the runtime section that provides it, and a kind that would work instead.",
        "",
        _header(["kind", "plugin", "needs"], columns),
    ]
    for plugin, kind in found.kinds:
        for label, needs in _variants(kind):
            lines.append(
                _row(
                    [f"`{kind.name}`{label}", f"`{plugin}`", _names(needs)],
                    [
                        plugin in stack.plugins
                        and all(n in found.capabilities(stack) for n in needs)
                        for stack in columns
                    ],
                )
            )
    lines += [
        "",
        "## Capabilities",
        "",
        "What each runtime section offers once it is configured.",
        "",
        _header(["capability", "plugin", "section"], columns),
    ]
    for plugin, section in found.sections:
        if section.scope != "runtime":
            continue
        for capability in section.capabilities:
            lines.append(
                _row(
                    [f"`{capability}`", f"`{plugin}`", f"`runtime.{section.key}`"],
                    [capability in found.capabilities(stack) for stack in columns],
                )
            )
    lines += [
        "",
        "## Blocks of the project format",
        "",
        "Keys a plugin adds to the project format; without the plugin they are unknown keys.",
        "",
        _header(["block", "plugin", "what it holds"], columns),
    ]
    for plugin, section in found.sections:
        path = (
            f"runtime.{section.key}"
            if section.scope == "runtime"
            else f"{section.scope}s[].{section.key}"
        )
        lines.append(
            _row(
                [f"`{path}`", f"`{plugin}`", section.description],
                [plugin in stack.plugins for stack in columns],
            )
        )
    lines += ["", "## Data tests and the local stack", "", _header(["feature", "plugin"], columns)]
    features = [(p, f"test `type: {name}`") for p, name in found.test_types]
    features += [(p, f"`sluice dev up` service `{name}`") for p, name in found.dev_services]
    for plugin, feature in features:
        lines.append(_row([feature, f"`{plugin}`"], [plugin in stack.plugins for stack in columns]))
    lines += ["", "## Settings each plugin owns", ""]
    lines += [
        "Each plugin validates its own blocks of the project: `runtime.<key>` once per project,",
        "and a block of each model (or source, or test) that uses it. Unknown keys are errors.",
    ]
    for plugin, section in found.sections:
        path = (
            f"runtime.{section.key}"
            if section.scope == "runtime"
            else (f"{section.scope}s[].{section.key}")
        )
        lines += ["", f"### `{path}` ({found.distributions[plugin]})", ""]
        if section.description:
            lines += [section.description[:1].upper() + section.description[1:] + ".", ""]
        lines += ["| key | type | default |", "| --- | --- | --- |", *key_table(section.model)]
    lines += ["", "## Distributions", "", "| plugin | install |", "| --- | --- |"]
    for plugin in found.plugins:
        lines.append(f"| `{plugin}` | `pip install {found.distributions[plugin]}` |")
    return "\n".join(lines) + "\n"


def _variants(kind: Materialization) -> list[tuple[str, tuple[str, ...]]]:
    """(label, capabilities needed) for each way a model can use ``kind``."""
    with_sql = kind.needs + tuple(n for n in kind.needs_with_sql if n not in kind.needs)
    if kind.sql == "forbidden":
        return [(" (from:, no SQL)", kind.needs)]
    if kind.sql == "required":
        return [(" (SQL)", with_sql)]
    return [(" without SQL", kind.needs), (" with SQL", with_sql)]


def _header(first: list[str], columns: Sequence[Stack]) -> str:
    titles = [*first, *(stack.title for stack in columns)]
    return "| " + " | ".join(titles) + " |\n|" + " --- |" * len(titles)


def _row(cells: list[str], marks: list[bool]) -> str:
    return "| " + " | ".join([*cells, *(YES if m else NO for m in marks)]) + " |"


def _names(names: Sequence[str]) -> str:
    return ", ".join(f"`{n}`" for n in names) or "nothing"


if __name__ == "__main__":
    print(render_capability_reference(), end="")
