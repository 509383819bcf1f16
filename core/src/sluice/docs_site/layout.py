"""A layered, left-to-right layout of the lineage graph, computed once when the site is built.

Each node goes to the column of its depth (the longest path from a node without parents), so
data always flows rightwards; a node without parents is pulled next to its nearest child. Inside a column, a few sweeps order the nodes by the mean
position of their neighbours in the next column (the barycenter heuristic), which removes most
edge crossings. Everything is integer arithmetic on sorted input: the same graph always gives
the same picture, byte for byte.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

NODE_WIDTH = 200
NODE_HEIGHT = 44
COLUMN_GAP = 80
ROW_GAP = 20
MARGIN = 20
SWEEPS = 4


@dataclass(frozen=True)
class Box:
    uid: str
    x: int
    y: int
    layer: int


@dataclass(frozen=True)
class Link:
    source: str
    target: str
    path: str  # SVG path data of a curve from the source's right side to the target's left


@dataclass(frozen=True)
class Layout:
    width: int
    height: int
    boxes: tuple[Box, ...]
    links: tuple[Link, ...]


def lay_out(nodes: Sequence[str], edges: Sequence[tuple[str, str]]) -> Layout:
    """Place ``nodes`` (in their preferred order inside a column) and route ``edges``."""
    depth = assign_layers(nodes, edges)
    columns = order_columns(nodes, edges, depth)
    boxes = _place(columns)
    where = {box.uid: box for box in boxes}
    links = tuple(Link(s, t, _curve(where[s], where[t])) for s, t in edges)
    layers = len(columns)
    rows = max((len(c) for c in columns), default=0)
    width = 2 * MARGIN + layers * (NODE_WIDTH + COLUMN_GAP) - (COLUMN_GAP if layers else 0)
    height = 2 * MARGIN + rows * (NODE_HEIGHT + ROW_GAP) - (ROW_GAP if rows else 0)
    return Layout(width, height, tuple(boxes), links)


def assign_layers(nodes: Sequence[str], edges: Sequence[tuple[str, str]]) -> dict[str, int]:
    """Each node's column: one more than its deepest parent's; a node without parents sits just
    left of its nearest child."""
    parents = _neighbours(nodes, edges, upstream=True)
    children = _neighbours(nodes, edges, upstream=False)
    waiting = {uid: len(parents[uid]) for uid in nodes}
    depth = dict.fromkeys(nodes, 0)
    ready = [uid for uid in nodes if waiting[uid] == 0]
    while ready:
        uid = ready.pop()
        for child in children[uid]:
            depth[child] = max(depth[child], depth[uid] + 1)
            waiting[child] -= 1
            if waiting[child] == 0:
                ready.append(child)
    # a node without parents moves next to its nearest child, so that a source joined in late
    # does not send a long edge across (and behind) the columns in between
    for uid in nodes:
        if not parents[uid] and children[uid]:
            depth[uid] = min(depth[child] for child in children[uid]) - 1
    return depth  # a node on a cycle (compile refuses those) simply stays where it got to


def order_columns(
    nodes: Sequence[str], edges: Sequence[tuple[str, str]], depth: Mapping[str, int]
) -> list[list[str]]:
    """The nodes of each column, top to bottom."""
    columns: list[list[str]] = [[] for _ in range(max(depth.values(), default=-1) + 1)]
    for uid in nodes:
        columns[depth[uid]].append(uid)
    parents = _neighbours(nodes, edges, upstream=True)
    children = _neighbours(nodes, edges, upstream=False)
    for _ in range(SWEEPS):
        for index in range(1, len(columns)):
            columns[index] = _by_barycenter(columns[index], columns[index - 1], parents)
        for index in range(len(columns) - 2, -1, -1):
            columns[index] = _by_barycenter(columns[index], columns[index + 1], children)
    return columns


def _by_barycenter(
    column: list[str], beside: list[str], neighbours: Mapping[str, Sequence[str]]
) -> list[str]:
    position = {uid: index for index, uid in enumerate(beside)}

    def key(item: tuple[int, str]) -> tuple[float, int]:
        index, uid = item
        near = [position[n] for n in neighbours[uid] if n in position]
        # scaled to the other column's size; a node with no neighbour there keeps its place
        if not near:
            return (index * len(beside) / max(len(column), 1), index)
        return (sum(near) / len(near), index)

    return [uid for _, uid in sorted(enumerate(column), key=key)]


def _neighbours(
    nodes: Sequence[str], edges: Sequence[tuple[str, str]], upstream: bool
) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {uid: [] for uid in nodes}
    for parent, child in edges:
        if upstream:
            found[child].append(parent)
        else:
            found[parent].append(child)
    return found


def _place(columns: list[list[str]]) -> list[Box]:
    rows = max((len(c) for c in columns), default=0)
    step = NODE_HEIGHT + ROW_GAP
    boxes = []
    for layer, column in enumerate(columns):
        # centre a short column against the tallest one (step is even, so this stays integer)
        offset = (rows - len(column)) * step // 2
        x = MARGIN + layer * (NODE_WIDTH + COLUMN_GAP)
        boxes += [
            Box(uid, x, MARGIN + offset + row * step, layer) for row, uid in enumerate(column)
        ]
    return boxes


def _curve(source: Box, target: Box) -> str:
    x1, y1 = source.x + NODE_WIDTH, source.y + NODE_HEIGHT // 2
    x2, y2 = target.x, target.y + NODE_HEIGHT // 2
    bend = max((x2 - x1) // 2, COLUMN_GAP // 2)
    return f"M{x1} {y1} C{x1 + bend} {y1} {x2 - bend} {y2} {x2} {y2}"
