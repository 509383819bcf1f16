"""The command-line reference, generated from the Click commands so it cannot drift.

``python -m sluice.cli_reference > docs/cli.md`` regenerates it; a test fails when the
committed file differs from what the commands say. Every command reachable from ``sluice``
is listed, groups included, so a new command or option appears without editing this module.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterator

import click

from sluice.cli.main import cli

PROG = "sluice"


def walk(context: click.Context) -> Iterator[click.Context]:
    """``context`` and the contexts of every visible subcommand below it, depth first, in
    name order (Click lists a group's commands sorted)."""
    yield context
    command = context.command
    if not isinstance(command, click.Group):
        return
    for name in command.list_commands(context):
        sub = command.get_command(context, name)
        if sub is None or sub.hidden:
            continue
        yield from walk(click.Context(sub, info_name=name, parent=context))


def render_cli_reference(command: click.Command = cli) -> str:
    """The Markdown reference of ``command`` (the ``sluice`` group) and all below it."""
    contexts = list(walk(click.Context(command, info_name=PROG)))
    lines = [
        "# Command-line reference",
        "",
        "Generated from sluice's Click commands by `python -m sluice.cli_reference`; do not",
        "edit. Every command also takes `-h` / `--help`, which prints the same text.",
        "",
        "| command | what it does |",
        "| --- | --- |",
    ]
    for context in contexts[1:]:
        summary = context.command.get_short_help_str(limit=200)
        lines.append(f"| [`{context.command_path}`](#{_anchor(context)}) | {_cell(summary)} |")
    for context in contexts:
        lines += ["", *_command_section(context)]
    return "\n".join(lines) + "\n"


def _command_section(context: click.Context) -> list[str]:
    command = context.command
    pieces = " ".join(command.collect_usage_pieces(context))
    lines = [
        f"## `{context.command_path}`",
        "",
        "```text",
        f"{context.command_path} {pieces}".rstrip(),
        "```",
        "",
        _help_text(command),
    ]
    arguments = [p for p in command.params if isinstance(p, click.Argument)]
    if arguments:
        lines += ["", "| argument | type | default |", "| --- | --- | --- |"]
        for argument in arguments:
            name = argument.make_metavar(context)
            lines.append(f"| `{name}` | {_type_text(argument)} | {_default_text(argument)} |")
    # --help is not among the params: Click adds it when parsing
    options = [p for p in command.params if isinstance(p, click.Option) and not p.hidden]
    if options:
        lines += ["", "| option | type | default | description |", "| --- | --- | --- | --- |"]
        for option in options:
            names = " / ".join(f"`{name}`" for name in [*option.opts, *option.secondary_opts])
            lines.append(
                f"| {names} | {_type_text(option)} | {_default_text(option)} "
                f"| {_cell(_option_help(option))} |"
            )
    if isinstance(command, click.Group):
        subs = [n for n in command.list_commands(context) if not _hidden(command, context, n)]
        lines += ["", "Commands: " + ", ".join(f"`{n}`" for n in subs) + "."]
    return lines


def _help_text(command: click.Command) -> str:
    # Click cuts the help at a form feed and uses "\b" lines to stop rewrapping; neither
    # belongs in Markdown
    text = inspect.cleandoc((command.help or "").split("\f")[0])
    return "\n".join(line for line in text.splitlines() if line.strip() != "\b")


def _option_help(option: click.Option) -> str:
    text = " ".join((option.help or "").split())
    if option.envvar:
        names = [option.envvar] if isinstance(option.envvar, str) else list(option.envvar)
        text += " Also read from " + ", ".join(f"`{n}`" for n in names) + "."
    return text.strip()


def _type_text(param: click.Parameter) -> str:
    kind = param.type
    if isinstance(param, click.Option) and param.count:
        text = "count"
    elif isinstance(param, click.Option) and param.is_flag:
        text = "flag"
    elif isinstance(kind, click.Choice):
        text = " \\| ".join(f"`{choice}`" for choice in kind.choices)
    elif isinstance(kind, click.Path):
        text = {(True, False): "file", (False, True): "directory"}.get(
            (kind.file_okay, kind.dir_okay), "path"
        )
    else:
        text = {"float": "number"}.get(kind.name, kind.name)
    if param.multiple or param.nargs == -1:
        text += ", repeatable"
    return text


def _default_text(param: click.Parameter) -> str:
    default = param.default
    if isinstance(param, click.Option) and param.is_flag and param.secondary_opts:
        # an on/off pair: name the spelling that is in effect
        return f"`{param.opts[0] if default else param.secondary_opts[0]}`"
    # None, False, empty and Click's "not set" marker all mean: nothing unless given
    unset = default is None or default is False or default == ()
    if unset or not isinstance(default, (str, int, float, tuple)):
        return "required" if param.required else "-"
    return f"`{default}`"


def _hidden(group: click.Group, context: click.Context, name: str) -> bool:
    sub = group.get_command(context, name)
    return sub is None or sub.hidden


def _anchor(context: click.Context) -> str:
    # GitHub's heading anchors: lower case, punctuation dropped, spaces become hyphens
    return context.command_path.lower().replace(" ", "-")


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


if __name__ == "__main__":
    print(render_cli_reference(), end="")
