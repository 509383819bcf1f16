"""Rendering the edges several plugins report: merged per pair of nodes, facts kept."""

from __future__ import annotations

import json
from types import SimpleNamespace
from typing import Any

from sluice.lineage import render_lineage
from sluice.nodes import Node
from sluice.plugin.api import LineageEdge


def manifest() -> Any:
    nodes = {
        "source.raw": Node("source.raw", "raw", "source", None, "p.yml"),
        "model.clean": Node("model.clean", "clean", "model", None, "p.yml", materialized="topic"),
    }
    return SimpleNamespace(nodes=nodes)


EDGES = [
    LineageEdge("source.raw", "model.clean", "data"),
    # two plugins see the same group reading the same topic; one of them knows its lag
    LineageEdge("model.clean", "consumer_group:billing", "consumes", detail={"topic": "clean"}),
    LineageEdge("model.clean", "consumer_group:billing", "consumes", detail={"lag": 12}),
    LineageEdge("consumer_group:billing", "application:billing", "belongs_to"),
    LineageEdge("consumer_group:other", "application:other", "belongs_to"),
]


def test_edges_between_the_same_nodes_are_merged_with_all_their_facts() -> None:
    shown = json.loads(render_lineage(manifest(), EDGES, {"source.raw", "model.clean"}, "json"))
    edges = [(e["source"], e["target"], e["kind"], e.get("detail")) for e in shown["edges"]]
    assert edges == [
        ("source.raw", "model.clean", "data", None),
        ("model.clean", "consumer_group:billing", "consumes", {"topic": "clean", "lag": 12}),
        # one step further outside the project; the unrelated group stays out
        ("consumer_group:billing", "application:billing", "belongs_to", None),
    ]


def test_the_tree_shows_the_lag_of_a_consuming_edge() -> None:
    tree = render_lineage(manifest(), EDGES, {"source.raw", "model.clean"}, "tree")
    assert tree.splitlines() == [
        "raw (source)",
        "└── clean (topic)",
        "    └── consumer_group:billing  [lag 12]",
        "        └── application:billing",
    ]
