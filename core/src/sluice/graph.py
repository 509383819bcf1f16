"""The dependency graph of a project's nodes.

A node is a unique id such as ``source.payments_raw`` or ``model.payments_clean``. An edge
``(parent, child)`` says that the child depends on the parent (the child's SQL calls
``ref('parent')`` or ``source('parent')``), so edges point the way data flows.

The graph is built once per compile and read many times afterwards. The constructor sorts and
de-duplicates every node's parents and children (as numbers, see below); the tuples of names
that :meth:`Graph.parents` and :meth:`Graph.children` return are made on first use and cached.
Every algorithm here is iterative (no recursion, so a 20,000-node chain is fine) and runs in
O(V + E), apart from the ``log V`` that a heap adds to keep the topological order deterministic.

Internally nodes are numbered by their position in the sorted node list, so comparing two
numbers orders the nodes the same way as comparing their ids.
"""

from __future__ import annotations

import heapq
from collections import deque
from collections.abc import Iterable, Sequence

from sluice.errors import Location, ProjectError


def short_name(uid: str) -> str:
    """The part of a unique id after its first dot: ``model.payments_clean`` -> ``payments_clean``."""
    return uid.split(".", 1)[-1]


class CycleError(ProjectError):
    """The nodes' references form a loop, so there is no order in which to build them."""

    def __init__(self, cycle: Sequence[str], *, location: Location | None = None) -> None:
        self.cycle = list(cycle)
        names = [short_name(uid) for uid in self.cycle]
        message = "models form a cycle: " + " -> ".join(names)
        # Each step "a -> b" of the cycle is a ref('a') written in b; dropping any one breaks it.
        refs = ", ".join(f"ref('{names[i]}') in {names[i + 1]}" for i in range(len(names) - 1))
        hint = f"remove one of these ref() calls: {refs}"
        super().__init__(message, location=location, hint=hint)


class Graph:
    """An immutable directed graph of node ids; edges run from parent to child."""

    def __init__(self, nodes: Iterable[str], edges: Iterable[tuple[str, str]]) -> None:
        ordered = sorted(set(nodes))
        index = {uid: number for number, uid in enumerate(ordered)}
        size = len(ordered)
        parent_lists: list[list[int]] = [[] for _ in range(size)]
        child_lists: list[list[int]] = [[] for _ in range(size)]
        parent = child = ""
        try:
            for parent, child in edges:
                parent_number = index[parent]
                child_number = index[child]
                parent_lists[child_number].append(parent_number)
                child_lists[parent_number].append(child_number)
        except KeyError:
            unknown = child if parent in index else parent
            raise ValueError(
                f"edge ({parent!r}, {child!r}) names unknown node {unknown!r}"
            ) from None

        self.nodes: tuple[str, ...] = tuple(ordered)
        self._index = index
        self._parent_numbers = [_sorted_unique(numbers) for numbers in parent_lists]
        self._child_numbers = [_sorted_unique(numbers) for numbers in child_lists]
        self._edge_count = sum(map(len, self._parent_numbers))
        # The tuples of names are made when first asked for, then kept.
        self._parents: dict[str, tuple[str, ...]] = {}
        self._children: dict[str, tuple[str, ...]] = {}
        self._order: tuple[str, ...] | None = None

    # -- basic queries -------------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self.nodes)

    def __contains__(self, uid: object) -> bool:
        return uid in self._index

    def __repr__(self) -> str:
        return f"Graph({len(self.nodes)} nodes, {self._edge_count} edges)"

    @property
    def edge_count(self) -> int:
        """How many distinct edges the graph has."""
        return self._edge_count

    def edges(self) -> list[tuple[str, str]]:
        """Every edge as ``(parent, child)``, sorted."""
        names = self.nodes
        return [
            (names[parent], names[child])
            for parent, children in enumerate(self._child_numbers)
            for child in children
        ]

    def parents(self, uid: str) -> tuple[str, ...]:
        """The nodes ``uid`` depends on directly, sorted."""
        found = self._parents.get(uid)
        if found is None:
            found = self._names(self._parent_numbers[self._number(uid)])
            self._parents[uid] = found
        return found

    def children(self, uid: str) -> tuple[str, ...]:
        """The nodes that depend on ``uid`` directly, sorted."""
        found = self._children.get(uid)
        if found is None:
            found = self._names(self._child_numbers[self._number(uid)])
            self._children[uid] = found
        return found

    def parent_map(self) -> dict[str, list[str]]:
        """Every node with its sorted parents, in node order (the manifest's ``parent_map``)."""
        return {uid: list(self.parents(uid)) for uid in self.nodes}

    def child_map(self) -> dict[str, list[str]]:
        """Every node with its sorted children, in node order (the manifest's ``child_map``)."""
        return {uid: list(self.children(uid)) for uid in self.nodes}

    # -- order -----------------------------------------------------------------------------------

    def find_cycle(self) -> list[str] | None:
        """One cycle as ``[a, b, c, a]`` (following the edges), or None when the graph is a DAG.

        The search visits nodes and children in sorted order and the cycle found is rotated to
        start at its smallest id, so the answer is the same on every run.
        """
        children = self._child_numbers
        state = bytearray(len(self.nodes))  # 0 unvisited, 1 on the current path, 2 finished
        for root in range(len(self.nodes)):
            if state[root]:
                continue
            state[root] = 1
            path = [root]
            pending = [iter(children[root])]
            while pending:
                for child in pending[-1]:
                    if state[child] == 0:
                        state[child] = 1
                        path.append(child)
                        pending.append(iter(children[child]))
                        break
                    if state[child] == 1:
                        loop = path[path.index(child) :]
                        start = loop.index(min(loop))
                        loop = loop[start:] + loop[:start]
                        return [self.nodes[n] for n in loop] + [self.nodes[loop[0]]]
                else:
                    state[path.pop()] = 2
                    pending.pop()
        return None

    def topological_order(self) -> list[str]:
        """Every node after all of its parents; among nodes that are ready, the smallest id first.

        Raises :class:`CycleError` when the graph has a cycle.
        """
        if self._order is None:
            waiting = [len(parents) for parents in self._parent_numbers]
            ready = [n for n, count in enumerate(waiting) if count == 0]  # ascending: a heap
            order: list[int] = []
            children = self._child_numbers
            while ready:
                number = heapq.heappop(ready)
                order.append(number)
                for child in children[number]:
                    waiting[child] -= 1
                    if waiting[child] == 0:
                        heapq.heappush(ready, child)
            if len(order) < len(self.nodes):
                raise self._cycle_error()
            self._order = tuple(self.nodes[n] for n in order)
        return list(self._order)

    def generations(self) -> list[list[str]]:
        """The nodes in layers: a node's parents all sit in earlier layers; each layer is sorted.

        The nodes of one layer do not depend on each other, so they can be applied in parallel.
        Raises :class:`CycleError` when the graph has a cycle.
        """
        waiting = [len(parents) for parents in self._parent_numbers]
        layer = [n for n, count in enumerate(waiting) if count == 0]
        layers: list[list[str]] = []
        placed = 0
        children = self._child_numbers
        while layer:
            layers.append([self.nodes[n] for n in layer])
            placed += len(layer)
            following: list[int] = []
            for number in layer:
                for child in children[number]:
                    waiting[child] -= 1
                    if waiting[child] == 0:
                        following.append(child)
            following.sort()
            layer = following
        if placed < len(self.nodes):
            raise self._cycle_error()
        return layers

    # -- reachability ----------------------------------------------------------------------------

    def ancestors(self, uid: str, depth: int | None = None) -> set[str]:
        """The nodes ``uid`` depends on, directly or not, at most ``depth`` edges up.

        ``depth=None`` means no limit; ``depth=1`` gives the parents. ``uid`` itself is never
        part of the answer.
        """
        found = self.upstream([uid], depth)
        found.discard(uid)
        return found

    def descendants(self, uid: str, depth: int | None = None) -> set[str]:
        """The nodes that depend on ``uid``, directly or not, at most ``depth`` edges down.

        ``depth=None`` means no limit; ``depth=1`` gives the children. ``uid`` itself is never
        part of the answer.
        """
        found = self.downstream([uid], depth)
        found.discard(uid)
        return found

    def upstream(self, uids: Iterable[str], depth: int | None = None) -> set[str]:
        """The given nodes plus every ancestor of any of them within ``depth`` edges.

        One breadth-first walk from all of them at once, so the cost is O(V + E) however many
        nodes are given.
        """
        return self._reach(uids, depth, self._parent_numbers)

    def downstream(self, uids: Iterable[str], depth: int | None = None) -> set[str]:
        """The given nodes plus every descendant of any of them within ``depth`` edges."""
        return self._reach(uids, depth, self._child_numbers)

    def subgraph(self, keep: Iterable[str]) -> Graph:
        """The graph of the ``keep`` nodes and the edges between two of them."""
        kept = {self._number(uid) for uid in keep}
        names = self.nodes
        edges = [
            (names[parent], names[child])
            for parent in kept
            for child in self._child_numbers[parent]
            if child in kept
        ]
        return Graph((names[n] for n in kept), edges)

    # -- helpers ---------------------------------------------------------------------------------

    def _number(self, uid: str) -> int:
        number = self._index.get(uid)
        if number is None:
            raise KeyError(f"no node {uid!r} in the graph")
        return number

    def _names(self, numbers: tuple[int, ...]) -> tuple[str, ...]:
        names = self.nodes
        return tuple([names[n] for n in numbers])

    def _reach(
        self, uids: Iterable[str], depth: int | None, links: list[tuple[int, ...]]
    ) -> set[str]:
        if depth is not None and depth < 0:
            raise ValueError(f"depth must be zero or more, not {depth}")
        reached = bytearray(len(self.nodes))
        queue: deque[tuple[int, int]] = deque()
        found: list[int] = []
        for uid in uids:
            number = self._number(uid)
            if not reached[number]:
                reached[number] = 1
                found.append(number)
                queue.append((number, 0))
        while queue:
            number, distance = queue.popleft()
            if depth is not None and distance >= depth:
                continue
            for other in links[number]:
                if not reached[other]:
                    reached[other] = 1
                    found.append(other)
                    queue.append((other, distance + 1))
        names = self.nodes
        return {names[n] for n in found}

    def _cycle_error(self) -> CycleError:
        cycle = self.find_cycle()
        assert cycle is not None, "a graph that cannot be ordered has a cycle"
        return CycleError(cycle)


def _sorted_unique(numbers: list[int]) -> tuple[int, ...]:
    """The numbers sorted, each once (the same ref() written twice is still one dependency)."""
    if len(numbers) > 1:
        return tuple(sorted(set(numbers)))
    return tuple(numbers)
