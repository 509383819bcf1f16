"""The node graph: building it, ordering it, walking it, and finding cycles."""

from __future__ import annotations

import itertools

import pytest

from sluice.errors import ProjectError
from sluice.graph import CycleError, Graph

# A small pipeline used by several stories:
#
#   source.payments_raw -> model.payments_clean -> model.payments_enriched -> exposure.fraud
#                          source.customers ------^       |
#                                                          +-> test.payments_quality
PIPELINE_NODES = [
    "source.payments_raw",
    "source.customers",
    "model.payments_clean",
    "model.payments_enriched",
    "test.payments_quality",
    "exposure.fraud_dashboard",
]
PIPELINE_EDGES = [
    ("source.payments_raw", "model.payments_clean"),
    ("model.payments_clean", "model.payments_enriched"),
    ("source.customers", "model.payments_enriched"),
    ("model.payments_enriched", "test.payments_quality"),
    ("model.payments_enriched", "exposure.fraud_dashboard"),
]


def pipeline() -> Graph:
    return Graph(PIPELINE_NODES, PIPELINE_EDGES)


def chain(length: int) -> tuple[list[str], list[tuple[str, str]]]:
    nodes = [f"model.m{i:05d}" for i in range(length)]
    return nodes, list(itertools.pairwise(nodes))


# -- building -----------------------------------------------------------------------------------


def test_nodes_are_sorted_and_unique() -> None:
    graph = Graph(["model.b", "model.a", "model.b"], [])
    assert graph.nodes == ("model.a", "model.b")
    assert len(graph) == 2
    assert "model.a" in graph and "model.z" not in graph


def test_parents_and_children_are_sorted_tuples() -> None:
    graph = pipeline()
    assert graph.parents("model.payments_enriched") == (
        "model.payments_clean",
        "source.customers",
    )
    assert graph.children("model.payments_enriched") == (
        "exposure.fraud_dashboard",
        "test.payments_quality",
    )
    assert graph.parents("source.payments_raw") == ()
    assert graph.children("exposure.fraud_dashboard") == ()


def test_parent_and_child_tuples_are_cached() -> None:
    graph = pipeline()
    assert graph.parents("model.payments_enriched") is graph.parents("model.payments_enriched")
    assert graph.children("model.payments_clean") is graph.children("model.payments_clean")


def test_a_ref_written_twice_is_one_edge() -> None:
    graph = Graph(["model.a", "model.b"], [("model.a", "model.b"), ("model.a", "model.b")])
    assert graph.parents("model.b") == ("model.a",)
    assert graph.edge_count == 1
    assert graph.edges() == [("model.a", "model.b")]


def test_an_edge_to_an_unknown_node_is_a_value_error() -> None:
    with pytest.raises(ValueError, match=r"names unknown node 'model\.ghost'"):
        Graph(["model.a"], [("model.a", "model.ghost")])
    with pytest.raises(ValueError, match=r"names unknown node 'model\.ghost'"):
        Graph(["model.a"], [("model.ghost", "model.a")])


def test_asking_about_an_unknown_node_is_a_key_error() -> None:
    with pytest.raises(KeyError):
        pipeline().parents("model.ghost")
    with pytest.raises(KeyError):
        pipeline().ancestors("model.ghost")


def test_parent_and_child_maps_cover_every_node_in_sorted_order() -> None:
    graph = pipeline()
    parent_map = graph.parent_map()
    assert list(parent_map) == sorted(PIPELINE_NODES)
    assert parent_map["model.payments_enriched"] == ["model.payments_clean", "source.customers"]
    assert parent_map["source.customers"] == []
    child_map = graph.child_map()
    assert list(child_map) == sorted(PIPELINE_NODES)
    assert child_map["model.payments_enriched"] == [
        "exposure.fraud_dashboard",
        "test.payments_quality",
    ]


# -- ordering -----------------------------------------------------------------------------------


def test_topological_order_puts_parents_first_and_breaks_ties_by_id() -> None:
    assert pipeline().topological_order() == [
        "source.customers",
        "source.payments_raw",
        "model.payments_clean",
        "model.payments_enriched",
        "exposure.fraud_dashboard",
        "test.payments_quality",
    ]


def test_topological_order_does_not_depend_on_input_order() -> None:
    forwards = Graph(PIPELINE_NODES, PIPELINE_EDGES).topological_order()
    backwards = Graph(reversed(PIPELINE_NODES), reversed(PIPELINE_EDGES)).topological_order()
    assert forwards == backwards


def test_a_ready_node_with_a_smaller_id_goes_first_even_if_found_later() -> None:
    # z is ready at once; a only after y. Among ready nodes the smallest id wins each time.
    graph = Graph(
        ["model.z", "model.y", "model.a"],
        [("model.y", "model.a")],
    )
    assert graph.topological_order() == ["model.y", "model.a", "model.z"]


def test_generations_are_layers_of_independent_nodes() -> None:
    assert pipeline().generations() == [
        ["source.customers", "source.payments_raw"],
        ["model.payments_clean"],
        ["model.payments_enriched"],
        ["exposure.fraud_dashboard", "test.payments_quality"],
    ]


def test_generations_put_a_node_after_its_deepest_parent() -> None:
    # a -> b -> c and a -> c: c must wait for b, so it sits in the third layer.
    graph = Graph(
        ["model.a", "model.b", "model.c"],
        [("model.a", "model.b"), ("model.b", "model.c"), ("model.a", "model.c")],
    )
    assert graph.generations() == [["model.a"], ["model.b"], ["model.c"]]


def test_an_empty_graph_has_no_order_and_no_layers() -> None:
    graph = Graph([], [])
    assert graph.topological_order() == []
    assert graph.generations() == []
    assert graph.find_cycle() is None


# -- cycles -------------------------------------------------------------------------------------


def cyclic() -> Graph:
    # source.raw -> a -> b -> c -> a, plus a harmless d hanging off c
    return Graph(
        ["source.raw", "model.c", "model.b", "model.a", "model.d"],
        [
            ("source.raw", "model.a"),
            ("model.a", "model.b"),
            ("model.b", "model.c"),
            ("model.c", "model.a"),
            ("model.c", "model.d"),
        ],
    )


def test_a_dag_has_no_cycle() -> None:
    assert pipeline().find_cycle() is None


def test_find_cycle_follows_the_edges_and_starts_at_the_smallest_id() -> None:
    assert cyclic().find_cycle() == ["model.a", "model.b", "model.c", "model.a"]


def test_find_cycle_is_the_same_however_the_graph_was_given() -> None:
    graph = cyclic()
    shuffled = Graph(reversed(graph.nodes), reversed(graph.edges()))
    assert shuffled.find_cycle() == graph.find_cycle()


def test_a_node_referring_to_itself_is_a_cycle() -> None:
    graph = Graph(["model.a"], [("model.a", "model.a")])
    assert graph.find_cycle() == ["model.a", "model.a"]


def test_topological_order_of_a_cycle_raises_a_cycle_error_naming_it() -> None:
    with pytest.raises(CycleError) as caught:
        cyclic().topological_order()
    error = caught.value
    assert isinstance(error, ProjectError)
    assert error.message == "models form a cycle: a -> b -> c -> a"
    assert error.hint == (
        "remove one of these ref() calls: ref('a') in b, ref('b') in c, ref('c') in a"
    )
    assert error.cycle == ["model.a", "model.b", "model.c", "model.a"]
    assert error.render() == (
        "models form a cycle: a -> b -> c -> a\n"
        "  hint: remove one of these ref() calls: ref('a') in b, ref('b') in c, ref('c') in a"
    )


def test_generations_of_a_cycle_raise_the_same_error() -> None:
    with pytest.raises(CycleError, match=r"^models form a cycle: a -> b -> c -> a$"):
        cyclic().generations()


# -- walking ------------------------------------------------------------------------------------


def test_ancestors_and_descendants_exclude_the_node_itself() -> None:
    graph = pipeline()
    assert graph.ancestors("model.payments_enriched") == {
        "model.payments_clean",
        "source.payments_raw",
        "source.customers",
    }
    assert graph.descendants("model.payments_clean") == {
        "model.payments_enriched",
        "test.payments_quality",
        "exposure.fraud_dashboard",
    }


def test_depth_limits_how_far_the_walk_goes() -> None:
    nodes, edges = chain(5)
    graph = Graph(nodes, edges)
    assert graph.ancestors(nodes[4], depth=1) == {nodes[3]}
    assert graph.ancestors(nodes[4], depth=2) == {nodes[3], nodes[2]}
    assert graph.descendants(nodes[0], depth=3) == {nodes[1], nodes[2], nodes[3]}
    assert graph.descendants(nodes[0], depth=0) == set()
    with pytest.raises(ValueError, match="depth must be zero or more"):
        graph.ancestors(nodes[4], depth=-1)


def test_depth_counts_the_shortest_way_round() -> None:
    # a -> b -> c and a -> c: c is one edge below a even though another way takes two.
    graph = Graph(
        ["model.a", "model.b", "model.c"],
        [("model.a", "model.b"), ("model.b", "model.c"), ("model.a", "model.c")],
    )
    assert graph.descendants("model.a", depth=1) == {"model.b", "model.c"}


def test_upstream_and_downstream_walk_from_many_nodes_at_once() -> None:
    graph = pipeline()
    assert graph.upstream(["model.payments_clean", "source.customers"]) == {
        "model.payments_clean",
        "source.payments_raw",
        "source.customers",
    }
    assert graph.downstream(["source.customers"], depth=1) == {
        "source.customers",
        "model.payments_enriched",
    }


def test_subgraph_keeps_only_edges_between_kept_nodes() -> None:
    sub = pipeline().subgraph(
        ["model.payments_clean", "model.payments_enriched", "test.payments_quality"]
    )
    assert sub.nodes == (
        "model.payments_clean",
        "model.payments_enriched",
        "test.payments_quality",
    )
    assert sub.edges() == [
        ("model.payments_clean", "model.payments_enriched"),
        ("model.payments_enriched", "test.payments_quality"),
    ]


# -- size: nothing recursive, nothing quadratic -------------------------------------------------


def test_a_20000_node_chain_orders_and_walks_without_recursion() -> None:
    nodes, edges = chain(20_000)
    graph = Graph(reversed(nodes), edges)
    assert graph.topological_order() == nodes
    assert len(graph.generations()) == 20_000
    assert graph.ancestors(nodes[-1]) == set(nodes[:-1])
    assert graph.descendants(nodes[0]) == set(nodes[1:])
    assert graph.ancestors(nodes[-1], depth=3) == set(nodes[-4:-1])
    assert graph.find_cycle() is None


def test_a_20000_node_chain_closed_into_a_loop_reports_the_whole_loop() -> None:
    nodes, edges = chain(20_000)
    graph = Graph(nodes, [*edges, (nodes[-1], nodes[0])])
    cycle = graph.find_cycle()
    assert cycle == [*nodes, nodes[0]]
    with pytest.raises(CycleError):
        graph.topological_order()


def test_a_20000_wide_fan_out_has_two_generations() -> None:
    leaves = [f"model.leaf{i:05d}" for i in range(20_000)]
    nodes, edges = ["source.root", *leaves], [("source.root", leaf) for leaf in leaves]
    graph = Graph(nodes, edges)
    assert graph.children("source.root") == tuple(leaves)
    assert graph.topological_order() == ["source.root", *leaves]
    assert graph.generations() == [["source.root"], leaves]
    assert graph.descendants("source.root") == set(leaves)
    assert graph.ancestors(leaves[-1]) == {"source.root"}
    assert graph.find_cycle() is None


def test_a_20000_wide_fan_in_has_two_generations() -> None:
    roots = [f"source.s{i:05d}" for i in range(20_000)]
    graph = Graph(["model.sink", *roots], [(root, "model.sink") for root in roots])
    assert graph.parents("model.sink") == tuple(roots)
    assert graph.generations() == [roots, ["model.sink"]]
    assert graph.ancestors("model.sink", depth=1) == set(roots)
