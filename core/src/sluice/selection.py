"""``--select`` and ``--exclude``: dbt's node selection grammar over a :class:`Graph`.

A selection is a list of strings. Every string is split on whitespace and the parts are
unioned; inside a part, commas intersect. Each criterion reads ``[@][N+]METHOD:VALUE[+N]``
(or a bare node name instead of ``METHOD:VALUE``):

* ``payments_clean`` - the node(s) of that name; ``*`` and ``?`` glob. Unlike a method, a name
  that matches nothing is an error, because it is almost always a typo.
* ``+x`` / ``2+x`` - x and all its ancestors / those at most two edges up.
* ``x+`` / ``x+1`` - x and all its descendants / its children only.
* ``@x`` - x, all its descendants, and all ancestors of those (what rebuilding x needs).
* methods: ``tag:``, ``path:``, ``config.materialized:``, ``plugin:``, ``resource_type:``,
  ``source:``, ``exposure:``, ``test_name:`` and ``fqn:`` (the same as a bare name). A method
  whose value matches no node selects nothing.

After the union minus the exclusions, every test with at least one selected parent is added
(dbt's "eager" indirect selection) unless the test is excluded itself.

Criteria are parsed up front, so a malformed one is reported before anything is evaluated.
Evaluating a criterion scans the node facts once and walks the graph at most twice from all of
its matches at once, so each criterion costs O(V + E).
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

from sluice.errors import SelectionError, did_you_mean
from sluice.graph import Graph

GRAMMAR_HINT = (
    "a criterion is [@][N+]NAME[+N] or [@][N+]METHOD:VALUE[+N], e.g. payments_clean, "
    "+payments_clean, payments_clean+1, @payments_clean, tag:pii, path:models/payments; "
    "spaces separate criteria to union, commas join criteria to intersect"
)

#: The ``METHOD:`` prefixes a criterion may use.
METHODS: tuple[str, ...] = (
    "config.materialized",
    "exposure",
    "fqn",
    "path",
    "plugin",
    "resource_type",
    "source",
    "tag",
    "test_name",
)

_CRITERION = re.compile(
    # The leading "N+" group is atomic: once "2+" is read as a depth it is never re-read as a
    # name "2" with a trailing "+", so "2+" alone is malformed rather than "2 and descendants".
    r"(?P<at>@)?(?>(?:(?P<up>\d*)\+)?)(?P<body>[^@+\s,][^+\s,]*)(?:\+(?P<down>\d*))?"
)
_GLOB_CHARS = frozenset("*?[")


@dataclass(frozen=True)
class NodeFacts:
    """What selection needs to know about one node."""

    unique_id: str
    name: str
    resource_type: str  # "source" | "model" | "test" | "exposure"
    path: str  # original_file_path, posix, relative to the project dir
    tags: tuple[str, ...] = ()
    materialized: str | None = None
    plugins: tuple[str, ...] = ()  # plugins that compiled artifacts for it, e.g. ("kafka",)


@dataclass(frozen=True)
class Criterion:
    """One parsed criterion such as ``2+tag:pii+``.

    ``method`` is None for a bare node name. A depth of None means "no limit"; ``parents`` and
    ``children`` say whether the ``+`` was written at all.
    """

    text: str
    method: str | None
    value: str
    parents: bool = False
    parents_depth: int | None = None
    children: bool = False
    children_depth: int | None = None
    childrens_parents: bool = False


def parse_criterion(text: str) -> Criterion:
    """Parse one criterion (no spaces or commas in it); raise SelectionError when malformed."""
    match = _CRITERION.fullmatch(text)
    if match is None:
        if not text:
            raise SelectionError("invalid selection criterion '': it is empty", hint=GRAMMAR_HINT)
        raise SelectionError(f"invalid selection criterion '{text}'", hint=GRAMMAR_HINT)
    at, up, body, down = match.group("at", "up", "body", "down")
    if at and up is not None:
        raise SelectionError(
            f"invalid selection criterion '{text}': '@' already selects the ancestors, "
            "so it cannot be combined with a leading '+'",
            hint=GRAMMAR_HINT,
        )
    method: str | None = None
    value = body
    if ":" in body:
        method, value = body.split(":", 1)
        if not method or not value:
            raise SelectionError(
                f"invalid selection criterion '{text}': "
                + (
                    "a method is missing before ':'" if not method else f"'{method}:' needs a value"
                ),
                hint=GRAMMAR_HINT,
            )
        if method not in METHODS:
            raise SelectionError(
                f"unknown selection method '{method}' in '{text}'",
                hint=did_you_mean(method, METHODS)
                or "the methods are " + ", ".join(f"{known}:" for known in METHODS),
            )
    return Criterion(
        text=text,
        method=method,
        value=value,
        parents=up is not None,
        parents_depth=int(up) if up else None,
        children=down is not None,
        children_depth=int(down) if down else None,
        childrens_parents=bool(at),
    )


def parse_selection(items: Sequence[str] | str) -> list[list[Criterion]]:
    """Parse ``--select`` or ``--exclude`` values: a union (list) of intersections (lists)."""
    if isinstance(items, str):  # a lone string is one item, not a sequence of characters
        items = [items]
    union: list[list[Criterion]] = []
    for item in items:
        for part in item.split():
            pieces = part.split(",")
            if "" in pieces:
                raise SelectionError(
                    f"invalid selection '{part}': a comma must sit between two criteria",
                    hint=GRAMMAR_HINT,
                )
            union.append([parse_criterion(piece) for piece in pieces])
    return union


def select_nodes(
    graph: Graph,
    facts: Mapping[str, NodeFacts],
    select: Sequence[str] = (),
    exclude: Sequence[str] = (),
) -> set[str]:
    """The unique ids that ``select`` minus ``exclude`` picks, plus their tests.

    With nothing to select (no strings, or only blank ones) every node is selected. ``facts``
    describes the graph's nodes; a node without facts can be reached only through ``+``/``@``.
    """
    included = parse_selection(select)
    excluded = parse_selection(exclude)
    evaluator = _Evaluator(graph, facts)

    chosen = evaluator.union(included) if included else set(graph.nodes)
    removed = evaluator.union(excluded)
    chosen -= removed

    for uid in graph.nodes:  # eager indirect selection of tests
        if uid in chosen or uid in removed or not evaluator.is_test(uid):
            continue
        if any(parent in chosen for parent in graph.parents(uid)):
            chosen.add(uid)
    return chosen


class _Evaluator:
    """Evaluates parsed criteria against one graph; remembers each criterion's answer."""

    def __init__(self, graph: Graph, facts: Mapping[str, NodeFacts]) -> None:
        self.graph = graph
        self.facts = [(uid, facts[uid]) for uid in graph.nodes if uid in facts]
        self._facts_by_id = dict(self.facts)
        self._by_name: dict[str, list[str]] | None = None
        self._answers: dict[Criterion, set[str]] = {}

    def is_test(self, uid: str) -> bool:
        node = self._facts_by_id.get(uid)
        return node.resource_type == "test" if node else uid.startswith("test.")

    def union(self, selection: list[list[Criterion]]) -> set[str]:
        found: set[str] = set()
        for intersection in selection:
            common = set(self.criterion(intersection[0]))
            for criterion in intersection[1:]:
                if not common:
                    break
                common &= self.criterion(criterion)
            found |= common
        return found

    def criterion(self, criterion: Criterion) -> set[str]:
        answer = self._answers.get(criterion)
        if answer is None:
            answer = self._expand(criterion, self._matches(criterion))
            self._answers[criterion] = answer
        return answer

    def _expand(self, criterion: Criterion, matched: set[str]) -> set[str]:
        graph = self.graph
        if criterion.childrens_parents:
            return graph.upstream(graph.downstream(matched))
        found = set(matched)
        if criterion.parents:
            found |= graph.upstream(matched, criterion.parents_depth)
        if criterion.children:
            found |= graph.downstream(matched, criterion.children_depth)
        return found

    def _matches(self, criterion: Criterion) -> set[str]:
        method, value = criterion.method, criterion.value
        if method is None:
            matched = self._named(value)
            if not matched:
                self._no_such_name(value)
            return matched
        if method == "fqn":
            return self._named(value)
        if method == "path":
            within = _path_matcher(value)
            return {uid for uid, node in self.facts if within(node.path)}
        test = _matcher(value)
        if method == "tag":
            return {uid for uid, node in self.facts if any(test(tag) for tag in node.tags)}
        if method == "plugin":
            return {uid for uid, node in self.facts if any(test(p) for p in node.plugins)}
        if method == "config.materialized":
            return {
                uid
                for uid, node in self.facts
                if node.materialized is not None and test(node.materialized)
            }
        if method == "resource_type":
            return {uid for uid, node in self.facts if test(node.resource_type)}
        kind = {"source": "source", "exposure": "exposure", "test_name": "test"}[method]
        return {uid for uid, node in self.facts if node.resource_type == kind and test(node.name)}

    def _named(self, value: str) -> set[str]:
        if _is_glob(value):
            test = _matcher(value)
            return {uid for uid, node in self.facts if test(node.name)}
        if self._by_name is None:
            self._by_name = {}
            for uid, node in self.facts:
                self._by_name.setdefault(node.name, []).append(uid)
        return set(self._by_name.get(value, ()))

    def _no_such_name(self, value: str) -> None:
        names = sorted({node.name for _, node in self.facts})
        hint = None if _is_glob(value) else did_you_mean(value, names)
        message = (
            f"no node name matches '{value}' in the project"
            if _is_glob(value)
            else f"no node named '{value}' in the project"
        )
        raise SelectionError(message, hint=hint or "run `sluice ls` to see node names")


def _is_glob(value: str) -> bool:
    return not _GLOB_CHARS.isdisjoint(value)


def _matcher(pattern: str) -> Callable[[str], bool]:
    """A test for one value: equality, or a case-sensitive glob when the pattern has one."""
    if _is_glob(pattern):
        regex = re.compile(fnmatch.translate(pattern))
        return lambda text: regex.match(text) is not None
    return pattern.__eq__


def _path_matcher(pattern: str) -> Callable[[str], bool]:
    """A test for a file path: is it the pattern, or under it, or (for a glob) does the file or
    one of its folders match it."""
    pattern = pattern.replace("\\", "/").removeprefix("./").rstrip("/")
    if pattern in ("", "."):
        return lambda path: True
    if not _is_glob(pattern):
        folder = pattern + "/"
        return lambda path: path == pattern or path.startswith(folder)
    test = _matcher(pattern)
    return lambda path: any(test(candidate) for candidate in _path_prefixes(path))


def _path_prefixes(path: str) -> Iterable[str]:
    """``a/b/c.yml`` -> ``a``, ``a/b``, ``a/b/c.yml``."""
    position = path.find("/")
    while position != -1:
        yield path[:position]
        position = path.find("/", position + 1)
    yield path
