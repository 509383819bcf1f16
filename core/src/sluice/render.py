"""Rendering model SQL with Jinja, recording the ``ref()``/``source()`` calls that make the graph.

``{{ ref("orders") }}`` and ``{{ source("payments_raw") }}`` render as quoted identifiers of the
node they name; ``{{ var("k") }}`` and ``{{ env_var("K") }}`` read project vars and the
environment. Templates that only call these functions with literal arguments (nearly all of
them) are evaluated straight from Jinja's parse tree, which is several times faster than
compiling them; anything else (macros, ``{% if %}``, filters) goes through full Jinja.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import jinja2
from jinja2 import nodes as jn

from sluice.errors import Location, ProjectError
from sluice.project.variables import Variables

_MISSING = object()


@dataclass(frozen=True)
class Rendered:
    sql: str
    refs: tuple[str, ...]
    sources: tuple[str, ...]
    vars_used: tuple[tuple[str, Any], ...] = ()
    env_used: tuple[tuple[str, str | None], ...] = ()


@dataclass
class _Recorder:
    models: Collection[str]
    sources: Collection[str]
    vars: Mapping[str, Any]
    variables: Variables
    location: Location | Callable[[], Location]  # a callable is worked out only on error
    refs: list[str] = field(default_factory=list)
    used_sources: list[str] = field(default_factory=list)
    vars_used: dict[str, Any] = field(default_factory=dict)
    env_used: dict[str, str | None] = field(default_factory=dict)

    def fail(self, message: str, hint: str | None) -> ProjectError:
        location = self.location() if callable(self.location) else self.location
        return ProjectError(message, location=location, hint=hint)

    def ref(self, *args: Any) -> str:
        if len(args) != 1 or not isinstance(args[0], str):
            raise self.fail("ref() takes one model name", 'write {{ ref("model_name") }}')
        name = args[0]
        if name not in self.models:
            if name in self.sources:
                raise self.fail(
                    f"ref('{name}') names a source", f'write {{{{ source("{name}") }}}}'
                )
            hint = _closest(name, self.models)
            source = difflib.get_close_matches(name, list(self.sources), n=1, cutoff=0.6)
            if not hint.startswith("did you") and source:
                hint = f'did you mean {{{{ source("{source[0]}") }}}}?'
            raise self.fail(f"ref('{name}'): no model named '{name}'", hint)
        if name not in self.refs:
            self.refs.append(name)
        return quote(name)

    def source(self, *args: Any) -> str:
        if len(args) != 1 or not isinstance(args[0], str):
            raise self.fail("source() takes one source name", 'write {{ source("source_name") }}')
        name = args[0]
        if name not in self.sources:
            if name in self.models:
                raise self.fail(f"source('{name}') names a model", f'write {{{{ ref("{name}") }}}}')
            hint = _closest(name, self.sources)
            model = difflib.get_close_matches(name, list(self.models), n=1, cutoff=0.6)
            if not hint.startswith("did you") and model:
                hint = f'did you mean {{{{ ref("{model[0]}") }}}}?'
            raise self.fail(f"source('{name}'): no source named '{name}'", hint)
        if name not in self.used_sources:
            self.used_sources.append(name)
        return quote(name)

    def var(self, *args: Any) -> Any:
        name, default = self._name_and_default("var", args)
        if name in self.vars:
            value = self.vars[name]
        elif default is not _MISSING:
            value = default
        else:
            raise self.fail(
                f"var('{name}') is not defined",
                f"add it under vars: in stream_project.yml, or give a default: var('{name}', ...)",
            )
        self.vars_used[name] = value
        return value

    def env_var(self, *args: Any) -> Any:
        name, default = self._name_and_default("env_var", args)
        value = self.variables.get(name)
        self.env_used[name] = value
        if value is None:
            if default is _MISSING:
                raise self.fail(
                    f"env_var('{name}') is not set",
                    "set it in the environment or .env, or give a default: "
                    f"env_var('{name}', 'value')",
                )
            return default
        return value

    def _name_and_default(self, function: str, args: tuple[Any, ...]) -> tuple[str, Any]:
        if not 1 <= len(args) <= 2 or not isinstance(args[0], str):
            raise self.fail(
                f"{function}() takes a name and an optional default",
                f'write {{{{ {function}("name") }}}} or {{{{ {function}("name", "default") }}}}',
            )
        return args[0], args[1] if len(args) == 2 else _MISSING

    def functions(self) -> dict[str, Callable[..., Any]]:
        return {"ref": self.ref, "source": self.source, "var": self.var, "env_var": self.env_var}


def quote(name: str) -> str:
    """A Flink SQL identifier (backticks; a backtick inside is doubled)."""
    return "`" + name.replace("`", "``") + "`"


def _closest(name: str, names: Collection[str]) -> str:
    match = difflib.get_close_matches(name, list(names), n=1, cutoff=0.6)
    return f"did you mean '{match[0]}'?" if match else "run `sluice ls` to see the names"


class SqlRenderer:
    """Renders every model's SQL of one project (macros are compiled once)."""

    def __init__(self, macros: Mapping[str, str], variables: Variables, vars: Mapping[str, Any]):
        self.env = jinja2.Environment(
            undefined=jinja2.StrictUndefined, autoescape=False, keep_trailing_newline=True
        )
        self.variables = variables
        self.vars = vars
        self._current: _Recorder | None = None
        # macros see the same functions as models, bound to the model being rendered
        for fn in ("ref", "source", "var", "env_var"):
            self.env.globals[fn] = self._dispatch(fn)
        self._macro_names: set[str] = set()
        for file, text in macros.items():
            try:
                module = self.env.from_string(text).module
            except jinja2.TemplateSyntaxError as exc:
                raise ProjectError(
                    f"macro syntax error: {exc.message}", location=Location(file, exc.lineno)
                ) from None
            for name in dir(module):
                if not name.startswith("_"):
                    self.env.globals[name] = getattr(module, name)
                    self._macro_names.add(name)

    def _dispatch(self, fn: str) -> Callable[..., Any]:
        def call(*args: Any, **kwargs: Any) -> Any:
            assert self._current is not None
            return getattr(self._current, fn)(*args, **kwargs)

        return call

    def render(
        self,
        template: str,
        *,
        location: Location,
        models: Collection[str],
        sources: Collection[str],
        locate: Callable[[int, int | None], Location] | None = None,
    ) -> Rendered:
        """Render one template; ``location`` is where its first line is in the project.

        ``locate(line, column)``, when given, maps a position in the template to the project
        file (for SQL indented in a YAML block scalar, or written after ``sql:``).
        """
        if locate is None:

            def locate(line: int, column: int | None) -> Location:
                return location.shifted(line - 1, column)

        recorder = _Recorder(models, sources, self.vars, self.variables, location)
        calls = _simple_calls(template)
        if calls is not None:
            return _rendered(_evaluate_calls(template, calls, recorder, locate), recorder)
        quick = _evaluate_tokens(self.env, template, recorder, locate)
        if quick is not None:
            return _rendered(quick, recorder)
        recorder = _Recorder(models, sources, self.vars, self.variables, location)
        try:
            ast = self.env.parse(template)
        except jinja2.TemplateSyntaxError as exc:
            raise ProjectError(
                f"template syntax error: {exc.message}",
                location=locate(exc.lineno or 1, 1),
                hint='write references as {{ ref("model") }} or {{ source("name") }}',
            ) from None
        simple = _evaluate_simple(ast, recorder, template.splitlines(), locate)
        if simple is not None:
            text = simple
        else:
            self._current = recorder
            try:
                text = self.env.from_string(template).render()
            except ProjectError:
                raise
            except jinja2.UndefinedError as exc:
                raise ProjectError(
                    f"template error: {exc.message}",
                    location=location,
                    hint="the functions available in SQL are ref, source, var, env_var and your macros",
                ) from None
            except jinja2.TemplateError as exc:
                raise ProjectError(f"template error: {exc}", location=location) from None
            except RecursionError:
                raise ProjectError(
                    "template error: calls nested too deep",
                    location=location,
                    hint="a macro that calls itself needs a condition that ends the calls",
                ) from None
            except Exception as exc:  # raised by the template's own expressions, e.g. 1/0
                line = _template_line(exc)
                raise ProjectError(
                    f"template error: {type(exc).__name__}: {exc}",
                    location=locate(line, None) if line else location,
                ) from None
            finally:
                self._current = None
        return _rendered(text, recorder)


def _template_line(error: BaseException) -> int | None:
    """The line of the model's template where ``error`` was raised, if it was (Jinja gives
    the frames of templates their template's name and line)."""
    line = None
    trace = error.__traceback__
    while trace is not None:
        if trace.tb_frame.f_code.co_filename == "<template>":
            line = trace.tb_lineno
        trace = trace.tb_next
    return line


def _rendered(text: str, recorder: _Recorder) -> Rendered:
    return Rendered(
        sql=text,
        refs=tuple(recorder.refs),
        sources=tuple(recorder.used_sources),
        vars_used=tuple(sorted(recorder.vars_used.items(), key=lambda kv: kv[0])),
        env_used=tuple(sorted(recorder.env_used.items())),
    )


_STRING_LITERAL = re.compile(r"""^(?:"[^"\\]*"|'[^'\\]*')$""")
# Where Jinja's lexer starts a tag, and the one tag the quickest path reads: a built-in
# function called with one plain string literal, no whitespace control.
_TAG_START = re.compile(r"\{\{|\{%|\{#")
_SIMPLE_CALL = re.compile(
    r"""\{\{\s*(ref|source|var|env_var)\s*\(\s*("[^"\\]*"|'[^'\\]*')\s*\)\s*\}\}"""
)


def _simple_calls(template: str) -> list[re.Match[str]] | None:
    """The tags of a template that is only text and ``{{ fn("literal") }}`` calls, else None.

    One regular expression instead of Jinja's lexer for the commonest templates. Every place
    where Jinja would start a tag must be such a call; text with a carriage return is left to
    Jinja, which normalises line ends in text.
    """
    if "\r" in template:
        return None
    calls = []
    position = 0
    while (tag := _TAG_START.search(template, position)) is not None:
        call = _SIMPLE_CALL.match(template, tag.start())
        if call is None:
            return None
        calls.append(call)
        position = call.end()
    return calls


def _evaluate_calls(
    template: str,
    calls: list[re.Match[str]],
    recorder: _Recorder,
    locate: Callable[[int, int | None], Location],
) -> str:
    """The text of a template :func:`_simple_calls` accepted, calls evaluated in order."""
    parts: list[str] = []
    position = 0
    for call in calls:
        parts.append(template[position : call.start()])
        name, argument = call.group(1), call.group(2)[1:-1]
        line = template.count("\n", 0, call.start()) + 1
        recorder.location = partial(_locate_template_call, locate, template, line, name, argument)
        parts.append(str(recorder.functions()[name](argument)))
        position = call.end()
    parts.append(template[position:])
    return "".join(parts)


def _locate_template_call(
    locate: Callable[[int, int | None], Location],
    template: str,
    lineno: int,
    function: str,
    argument: str,
) -> Location:
    return _locate_call(locate, template.splitlines(), lineno, function, [argument])


def _evaluate_tokens(
    env: jinja2.Environment,
    template: str,
    recorder: _Recorder,
    locate: Callable[[int, int | None], Location],
) -> str | None:
    """Evaluate the commonest templates from Jinja's own tokens, without parsing them.

    Handles text and ``{{ fn("literal") }}`` for the built-in functions; returns None for
    anything else (a syntax error included), which then takes the parse path.
    """
    if "{" not in template:
        return template
    parts: list[str] = []
    call: list[tuple[str, str]] = []
    inside = False
    lines = template.splitlines()
    try:
        for lineno, kind, value in env.lex(template):
            if kind == "data" and not inside:
                parts.append(value)
            elif kind == "variable_begin" and value == "{{" and not inside:
                inside, call, start = True, [], lineno
            elif kind == "whitespace" and inside:
                continue
            elif kind == "variable_end" and value == "}}" and inside:
                shape = [k for k, _ in call]
                if (
                    shape != ["name", "operator", "string", "operator"]
                    or call[0][1] not in _SIMPLE_FUNCTIONS
                ):
                    return None
                if call[1][1] != "(" or call[3][1] != ")" or not _STRING_LITERAL.match(call[2][1]):
                    return None
                name, argument = call[0][1], call[2][1][1:-1]
                recorder.location = partial(_locate_call, locate, lines, start, name, [argument])
                parts.append(str(recorder.functions()[name](argument)))
                inside = False
            elif inside and kind in ("name", "operator", "string"):
                call.append((kind, value))
            else:
                return None
    except jinja2.TemplateSyntaxError:
        return None
    return None if inside else "".join(parts)


_SIMPLE_FUNCTIONS = {"ref", "source", "var", "env_var"}


def _call_column(line: str, function: str, args: list[Any]) -> int | None:
    """The column of the ``{{`` that opens a call of ``function`` on ``line``, if found."""
    argument = ""
    if args and isinstance(args[0], str):
        argument = r"\s*['\"]" + re.escape(args[0]) + "['\"]"
    match = re.search(r"\{\{-?\s*" + function + r"\s*\(" + argument, line)
    return match.start() + 1 if match else None


def _locate_call(
    locate: Callable[[int, int | None], Location],
    lines: list[str],
    lineno: int,
    function: str,
    args: list[Any],
) -> Location:
    line = lines[lineno - 1] if lineno <= len(lines) else ""
    return locate(lineno, _call_column(line, function, args))


def _evaluate_simple(
    ast: jn.Template,
    recorder: _Recorder,
    lines: list[str],
    locate: Callable[[int, int | None], Location],
) -> str | None:
    """Evaluate a template made of text and ``{{ fn("literal") }}`` calls; None if it is more."""
    if len(ast.body) != 1 or not isinstance(ast.body[0], jn.Output):
        return None if ast.body else ""
    parts: list[str] = []
    functions = recorder.functions()
    for node in ast.body[0].nodes:
        if isinstance(node, jn.TemplateData):
            parts.append(node.data)
            continue
        if not (
            isinstance(node, jn.Call)
            and isinstance(node.node, jn.Name)
            and node.node.name in _SIMPLE_FUNCTIONS
            and not node.kwargs
            and node.dyn_args is None
            and node.dyn_kwargs is None
            and all(isinstance(arg, jn.Const) for arg in node.args)
        ):
            return None
        args = [arg.value for arg in node.args]  # type: ignore[attr-defined]
        recorder.location = partial(_locate_call, locate, lines, node.lineno, node.node.name, args)
        parts.append(str(functions[node.node.name](*args)))
    return "".join(parts)
