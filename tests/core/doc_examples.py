"""Checking that what a documentation page shows works: its YAML, its commands, its files.

``check_page`` reads the fenced blocks of one page (see :mod:`markdown_blocks`) and returns
the problems it finds, each with the page and line:

- ``yaml``: parsed and validated by sluice's own loader as the file its top-level keys say it
  is: ``stream_project.yml`` (has ``project:``), a file of ``sources:``/``models:``/``tests:``/
  ``exposures:``, or ``environments/<env>.yml``. A block marked ``<!-- fragment -->`` is only
  parsed.
- ``bash``/``sh``/``console``: every ``sluice ...`` command is run in-process, in a scratch
  copy of the example project, when it works offline; a command that needs the live systems is
  parsed by Click instead (unknown options, bad choices) and its ``--help`` must answer. Other
  commands must name paths that exist in the repository.
- ``python`` and ``toml``: parsed.
- a block captioned ``File `path`:`` must equal that file of the repository, one captioned
  ``From `path`:`` must be consecutive lines of it.
"""

from __future__ import annotations

import ast
import contextlib
import importlib.util
import re
import shlex
import shutil
import tempfile
import tomllib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import click
import yaml
from click.testing import CliRunner
from markdown_blocks import Block, fenced_blocks

from sluice.cli.main import cli
from sluice.errors import SluiceError
from sluice.plugin.api import ConfigSection
from sluice.plugin.manager import PluginManager
from sluice.project.loader import load_project

EXAMPLE_PROJECT = "examples/card-payments"
SHELL_LANGUAGES = {"bash", "sh", "shell", "console", "zsh"}
FRAGMENT = "fragment"

# Commands that never contact a live system, so the docs' lines can simply be run. Anything
# else (plan, apply, destroy, status, test, dev ..., docs serve, commands added later) is only
# parsed until it is listed here.
OFFLINE_COMMANDS = {
    ("init",),
    ("validate",),
    ("compile",),
    ("ls",),
    ("lineage",),
    ("plugins",),
    ("docs", "generate"),
}
# options that make an offline command reach out to a system
LIVE_OPTIONS = {"--live", "--probe", "--openlineage-url"}
ALWAYS_OFFLINE_OPTIONS = {"-h", "--help", "--version"}

KIND_LABELS = {
    "project": "stream_project.yml",
    "nodes": "a file of sources/models/tests/exposures",
    "environment": "environments/<env>.yml",
}
NODE_KEYS = {"sources", "models", "tests", "exposures"}
ENVIRONMENT_KEYS = {"runtime", "vars", "protected", "allow_destructive"}
_VARIABLE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(:-)?")
_ASSIGNMENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*=")
_OPERATORS = {"&&", "||", ";", "|", "&"}
_REDIRECTS = {">", ">>", "<", "2>", "2>&1", "&>"}
# folders that the commands shown create (a venv, the dev stack's state), never the repository
_CREATED = (".venv/", ".sluice/")


@dataclass(frozen=True)
class Problem:
    where: str
    message: str

    def __str__(self) -> str:
        return f"{self.where}: {self.message}"


# -- YAML ----------------------------------------------------------------------------------


def yaml_kind(data: object) -> str | None:
    """Which project file a YAML document is, by its top-level keys."""
    if not isinstance(data, dict) or not data:
        return None
    keys = set(data)
    if "project" in keys:
        return "project"
    if keys <= NODE_KEYS:
        return "nodes"
    if keys <= ENVIRONMENT_KEYS:
        return "environment"
    return None


def validate_project_yaml(
    kind: str, text: str, sections: Sequence[tuple[str, ConfigSection]]
) -> str | None:
    """Load ``text`` as a file of ``kind`` in an otherwise empty project; the error, if any."""
    with tempfile.TemporaryDirectory(prefix="sluice-docs-") as scratch:
        root = Path(scratch)
        header = "project:\n  name: docs_example\n"
        env = None
        if kind == "project":
            (root / "stream_project.yml").write_text(text, encoding="utf-8")
        else:
            (root / "stream_project.yml").write_text(header, encoding="utf-8")
            folder, env = ("models", None) if kind == "nodes" else ("environments", "example")
            (root / folder).mkdir()
            (root / folder / f"{env or 'example'}.yml").write_text(text, encoding="utf-8")
        try:
            load_project(root, env=env, sections=sections, environ=_placeholders(text))
        except SluiceError as exc:
            return exc.render()
    return None


def _placeholders(text: str) -> dict[str, str]:
    """A value for each ``${VAR}`` the text uses without a default, as a user would set it;
    the name says what kind of value it holds (sections check URLs and broker lists)."""
    return {name: _placeholder(name) for name, default in _VARIABLE.findall(text) if not default}


def _placeholder(name: str) -> str:
    if "URL" in name:
        return "http://localhost:8080"
    if "BOOTSTRAP" in name or "SERVERS" in name:
        return "localhost:9092"
    return "placeholder"


# -- shell ---------------------------------------------------------------------------------


def shell_lines(block: Block) -> Iterator[tuple[int, str]]:
    """(offset in the block, command line) for each command: in a console block the lines
    after ``$``; elsewhere every line that is not a comment. Continuations are joined."""
    pending: tuple[int, str] | None = None
    for offset, line in enumerate(block.text.splitlines()):
        if pending is not None:
            line = pending[1] + " " + line.strip()
            offset = pending[0]
            pending = None
        elif block.language == "console":
            if not line.startswith("$ "):
                continue  # the command's output
            line = line[2:]
        if line.rstrip().endswith("\\"):
            pending = (offset, line.rstrip()[:-1].rstrip())
            continue
        if line.strip() and not line.lstrip().startswith("#"):
            yield offset, line.strip()


def simple_commands(line: str) -> list[list[str]]:
    """The words of each command of ``a && b | c; d``, with redirections left out."""
    lexer = shlex.shlex(line, posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    commands: list[list[str]] = [[]]
    skip_next = False
    for token in lexer:
        if skip_next:
            skip_next = False
        elif token in _OPERATORS:
            commands.append([])
        elif token in _REDIRECTS:
            skip_next = True
        else:
            commands[-1].append(token)
    return [c for c in commands if c]


def is_offline(path: Sequence[str], args: Sequence[str]) -> bool:
    names = {arg.split("=", 1)[0] for arg in args}
    if names & ALWAYS_OFFLINE_OPTIONS or not path:
        return True
    if tuple(path) not in OFFLINE_COMMANDS or names & LIVE_OPTIONS:
        return False
    return tuple(path) != ("plugins",) or "--no-probe" in names


@dataclass
class Sandbox:
    """Where a page's commands run: a scratch copy of the example project, and its state as
    the page goes on (``cd``, created virtualenvs)."""

    repo: Path
    root: Path
    cwd: Path = field(init=False)
    sections: list[tuple[str, ConfigSection]] = field(init=False)
    venvs: set[str] = field(default_factory=set)

    def __post_init__(self) -> None:
        self.cwd = self.root
        _copy_project(self.repo / EXAMPLE_PROJECT, self.root)
        self.sections = PluginManager().config_sections()

    def exists(self, text: str) -> bool:
        """Whether ``text`` names a path of the repository or of the sandbox (globs allowed),
        or one a command of the page created."""
        if text.startswith(_CREATED) or any(text.startswith(v + "/") for v in self.venvs):
            return True
        for base in (self.repo, self.cwd):
            if any(ch in text for ch in "*?"):
                if any(base.glob(text)):
                    return True
            elif (base / text).exists():
                return True
        return False

    def bring_in(self, text: str) -> None:
        """Copy a folder of the repository the command names into the sandbox, so it runs on
        a copy and never writes into the repository."""
        source, target = self.repo / text, self.cwd / text
        if not target.exists() and source.is_dir() and not Path(text).is_absolute():
            _copy_project(source, target)


def _copy_project(source: Path, target: Path) -> None:
    shutil.copytree(source, target, ignore=shutil.ignore_patterns("target", ".sluice"))


def check_sluice(words: list[str], env: dict[str, str], sandbox: Sandbox) -> str | None:
    """Run an offline command, or parse an online one; what went wrong, if anything."""
    runner = CliRunner()
    context = click.Context(cli, info_name="sluice")
    command: click.Command = cli
    path: list[str] = []
    args = words[1:]
    while isinstance(command, click.Group) and args and not args[0].startswith("-"):
        sub = command.get_command(context, args[0])
        if sub is None:
            return f"no such command: sluice {' '.join([*path, args[0]])}"
        path.append(args.pop(0))
        command = sub
        context = click.Context(sub, info_name=path[-1], parent=context)
    run_env: dict[str, str | None] = {"SLUICE_ENV": None, **env}
    if is_offline(path, args):
        for arg in args:
            sandbox.bring_in(arg)
        with contextlib.chdir(sandbox.cwd):
            result = runner.invoke(cli, [*path, *args], env=run_env, prog_name="sluice")
        if result.exit_code != 0:
            return f"exited with {result.exit_code}:\n{_tail(result.output)}"
        return None
    helped = runner.invoke(cli, [*path, "--help"], prog_name="sluice")
    if helped.exit_code != 0:
        return f"`sluice {' '.join(path)} --help` exited with {helped.exit_code}"
    try:
        with command.make_context(path[-1], list(args), parent=context.parent):
            pass
    except click.ClickException as exc:
        return exc.format_message()
    return None


def check_other(words: list[str], sandbox: Sandbox) -> str | None:
    """A command that is not sluice: the paths it names must exist."""
    program, *args = words
    if program == "cd":
        target = args[0] if args else "."
        sandbox.bring_in(target)
        if not (sandbox.cwd / target).is_dir():
            return f"cd: no folder '{target}'"
        sandbox.cwd = (sandbox.cwd / target).resolve()
        return None
    if program in ("python", "python3") and args[:1] == ["-m"] and len(args) > 1:
        if importlib.util.find_spec(args[1]) is None:
            return f"no module '{args[1]}'"
        if args[1] == "venv":  # it names the folder it creates
            sandbox.venvs.update(a.rstrip("/") for a in args[2:] if not a.startswith("-"))
            return None
        return _check_paths(args[2:], sandbox, pip=args[1] == "pip")
    return _check_paths(args, sandbox, pip=program in ("pip", "pip3"))


def _check_paths(args: Sequence[str], sandbox: Sandbox, *, pip: bool) -> str | None:
    missing = []
    for index, arg in enumerate(args):
        value = arg.split("=", 1)[1] if arg.startswith("-") and "=" in arg else arg
        if pip:
            value = re.sub(r"\[[^\]]*\]$", "", value)  # extras: plugins/connect[test]
        editable = pip and index > 0 and args[index - 1] in ("-e", "--editable")
        looks_like_path = "/" in value or value.startswith(".") or editable
        if value.startswith("-") or "$" in value or "://" in value or not looks_like_path:
            continue
        if not sandbox.exists(value):
            missing.append(value)
    return f"no such file or folder: {', '.join(missing)}" if missing else None


def _tail(output: str, lines: int = 15) -> str:
    return "\n".join("    " + line for line in output.rstrip().splitlines()[-lines:])


# -- blocks --------------------------------------------------------------------------------


def check_block(block: Block, sandbox: Sandbox, repo: Path) -> list[Problem]:
    problems = _check_shown_file(block, repo)
    if block.language in ("yaml", "yml"):
        problems += _check_yaml(block, sandbox)
    elif block.language in SHELL_LANGUAGES:
        problems += _check_shell(block, sandbox)
    elif block.language == "python":
        try:
            ast.parse(block.text)
        except SyntaxError as exc:
            problems.append(Problem(block.where((exc.lineno or 1) - 1), f"not Python: {exc.msg}"))
    elif block.language == "toml":
        try:
            tomllib.loads(block.text)
        except tomllib.TOMLDecodeError as exc:
            problems.append(Problem(block.where(), f"not TOML: {exc}"))
    return problems


def _check_shown_file(block: Block, repo: Path) -> list[Problem]:
    shown = block.shown_file
    if shown is None:
        return []
    how, name = shown
    path = repo / name
    if not path.is_file():
        return [Problem(block.where(), f"the block shows '{name}', which does not exist")]
    actual = path.read_text(encoding="utf-8")
    if how == "File" and block.text != actual:
        return [Problem(block.where(), f"the block differs from {name}; copy the file again")]
    if how == "From" and not _consecutive_lines(block.text, actual):
        return [Problem(block.where(), f"the block is not a run of lines of {name}")]
    return []


def _consecutive_lines(excerpt: str, text: str) -> bool:
    wanted, lines = excerpt.splitlines(), text.splitlines()
    return bool(wanted) and any(
        lines[i : i + len(wanted)] == wanted for i in range(len(lines) - len(wanted) + 1)
    )


def _check_yaml(block: Block, sandbox: Sandbox) -> list[Problem]:
    try:
        data = yaml.safe_load(block.text)
    except yaml.YAMLError as exc:
        return [Problem(block.where(), f"not YAML: {exc}")]
    if block.marker == FRAGMENT:
        return []
    kind = yaml_kind(data)
    if kind is None:
        keys = ", ".join(map(str, data)) if isinstance(data, dict) else type(data).__name__
        return [
            Problem(
                block.where(),
                f"cannot tell which project file this is (top-level: {keys}); a whole "
                "stream_project.yml has project:, a node file only sources:/models:/tests:/"
                "exposures:, an environment file runtime:/vars:/protected:; mark a part of a "
                f"file with <!-- {FRAGMENT} --> on the line above the block",
            )
        ]
    error = validate_project_yaml(kind, block.text, sandbox.sections)
    return [Problem(block.where(), f"invalid as {KIND_LABELS[kind]}: {error}")] if error else []


def _check_shell(block: Block, sandbox: Sandbox) -> list[Problem]:
    problems = []
    for offset, line in shell_lines(block):
        for words in simple_commands(line):
            env = {}
            while words and _ASSIGNMENT.match(words[0]):
                name, value = words.pop(0).split("=", 1)
                env[name] = value
            if not words or words[0] == "export":
                continue
            if words[0] == "sluice":
                error = check_sluice(words, env, sandbox)
            else:
                error = check_other(words, sandbox)
            if error:
                problems.append(Problem(block.where(offset), f"`{line}`: {error}"))
    return problems


def check_page(page: str, text: str, repo: Path, scratch: Path) -> list[Problem]:
    """Every problem of the blocks of one page; ``scratch`` is an empty folder to work in."""
    sandbox = Sandbox(repo, scratch / "project")
    problems = []
    for block in fenced_blocks(page, text):
        problems += check_block(block, sandbox, repo)
    return problems
