"""Node selection: dbt's --select / --exclude grammar, told as small stories."""

from __future__ import annotations

import itertools

import pytest

from sluice.errors import SelectionError
from sluice.graph import Graph
from sluice.selection import (
    GRAMMAR_HINT,
    Criterion,
    NodeFacts,
    parse_criterion,
    parse_selection,
    select_nodes,
)

# The project in most stories:
#
#   source.payments_raw -> model.payments_clean -> model.payments_enriched -> exposure.fraud_dashboard
#   source.customers -------------------------------^        |
#                                                            +-> model.payments_daily
#   test.payments_quality tests payments_clean; test.enriched_vs_customers tests both
#   payments_enriched and customers.
FACTS = {
    fact.unique_id: fact
    for fact in [
        NodeFacts(
            "source.payments_raw",
            "payments_raw",
            "source",
            "sources/payments.yml",
            tags=("payments",),
            plugins=("kafka",),
        ),
        NodeFacts("source.customers", "customers", "source", "sources/crm.yml", plugins=("kafka",)),
        NodeFacts(
            "model.payments_clean",
            "payments_clean",
            "model",
            "models/payments/payments_clean.sql",
            tags=("payments", "pii"),
            materialized="flink",
            plugins=("flink", "kafka"),
        ),
        NodeFacts(
            "model.payments_enriched",
            "payments_enriched",
            "model",
            "models/payments/payments_enriched.sql",
            tags=("payments",),
            materialized="flink",
            plugins=("flink", "kafka"),
        ),
        NodeFacts(
            "model.payments_daily",
            "payments_daily",
            "model",
            "models/reporting/payments_daily.sql",
            tags=("reporting",),
            materialized="connect",
            plugins=("connect",),
        ),
        NodeFacts("test.payments_quality", "payments_quality", "test", "tests/payments.yml"),
        NodeFacts(
            "test.enriched_vs_customers", "enriched_vs_customers", "test", "tests/enriched.yml"
        ),
        NodeFacts("exposure.fraud_dashboard", "fraud_dashboard", "exposure", "exposures/fraud.yml"),
    ]
}
EDGES = [
    ("source.payments_raw", "model.payments_clean"),
    ("model.payments_clean", "model.payments_enriched"),
    ("source.customers", "model.payments_enriched"),
    ("model.payments_enriched", "exposure.fraud_dashboard"),
    ("model.payments_enriched", "model.payments_daily"),
    ("model.payments_clean", "test.payments_quality"),
    ("model.payments_enriched", "test.enriched_vs_customers"),
    ("source.customers", "test.enriched_vs_customers"),
]
GRAPH = Graph(FACTS, EDGES)


def select(*criteria: str, exclude: tuple[str, ...] = ()) -> set[str]:
    return select_nodes(GRAPH, FACTS, list(criteria), list(exclude))


def names(uids: set[str]) -> set[str]:
    return {uid.split(".", 1)[1] for uid in uids}


def chain_graph(*letters: str) -> tuple[Graph, dict[str, NodeFacts]]:
    uids = [f"model.{letter}" for letter in letters]
    facts = {
        uid: NodeFacts(uid, letter, "model", f"models/{letter}.sql")
        for uid, letter in zip(uids, letters, strict=True)
    }
    return Graph(uids, list(itertools.pairwise(uids))), facts


def error_of(*criteria: str, exclude: tuple[str, ...] = ()) -> SelectionError:
    with pytest.raises(SelectionError) as caught:
        select(*criteria, exclude=exclude)
    return caught.value


# -- the basics ---------------------------------------------------------------------------------


def test_selecting_nothing_selects_every_node() -> None:
    assert select() == set(FACTS)
    assert select("", "   ") == set(FACTS)


def test_a_bare_name_selects_that_node_and_its_tests() -> None:
    assert names(select("payments_clean")) == {"payments_clean", "payments_quality"}


def test_a_name_glob_selects_every_matching_name() -> None:
    assert names(select("payments_?aily")) == {"payments_daily"}
    assert names(select("payments_*", exclude=("resource_type:test",))) == {
        "payments_raw",
        "payments_clean",
        "payments_enriched",
        "payments_daily",
    }


def test_a_lone_string_is_one_criterion_not_a_list_of_letters() -> None:
    assert names(select_nodes(GRAPH, FACTS, "payments_daily")) == {"payments_daily"}  # type: ignore[arg-type]


# -- graph operators ----------------------------------------------------------------------------


def test_given_a_chain_a_b_c_selecting_b_plus_gives_b_and_c() -> None:
    graph, facts = chain_graph("a", "b", "c")
    assert select_nodes(graph, facts, ["b+"]) == {"model.b", "model.c"}


def test_given_a_chain_a_b_c_selecting_plus_b_gives_a_and_b() -> None:
    graph, facts = chain_graph("a", "b", "c")
    assert select_nodes(graph, facts, ["+b"]) == {"model.a", "model.b"}


def test_given_a_chain_a_to_e_depths_limit_both_directions() -> None:
    graph, facts = chain_graph("a", "b", "c", "d", "e")
    assert names(select_nodes(graph, facts, ["2+d"])) == {"b", "c", "d"}
    assert names(select_nodes(graph, facts, ["b+1"])) == {"b", "c"}
    assert names(select_nodes(graph, facts, ["1+c+1"])) == {"b", "c", "d"}
    assert names(select_nodes(graph, facts, ["+c+"])) == {"a", "b", "c", "d", "e"}
    assert names(select_nodes(graph, facts, ["0+c+0"])) == {"c"}


def test_at_selects_descendants_and_everything_they_need() -> None:
    # @payments_clean: payments_clean, what is built from it, and every parent of those, which
    # brings in the customers source that payments_enriched also reads.
    assert names(select("@payments_clean")) == {
        "payments_raw",
        "payments_clean",
        "payments_enriched",
        "payments_daily",
        "fraud_dashboard",
        "customers",
        "payments_quality",
        "enriched_vs_customers",
    }


def test_at_with_a_trailing_plus_is_allowed_and_changes_nothing() -> None:
    assert select("@payments_enriched+") == select("@payments_enriched")


def test_plus_on_a_method_expands_every_match() -> None:
    assert names(select("tag:reporting+", "+tag:pii")) == {
        "payments_daily",
        "payments_raw",
        "payments_clean",
        "payments_quality",
    }


# -- methods ------------------------------------------------------------------------------------


def test_tag_selects_nodes_carrying_the_tag() -> None:
    assert names(select("tag:pii")) == {"payments_clean", "payments_quality"}
    assert names(select("tag:pay*", exclude=("resource_type:test",))) == {
        "payments_raw",
        "payments_clean",
        "payments_enriched",
    }


def test_path_selects_files_under_a_folder() -> None:
    assert names(select("path:models/payments", exclude=("resource_type:test",))) == {
        "payments_clean",
        "payments_enriched",
    }
    # a trailing slash or a leading ./ do not matter, and a folder name is not a prefix match
    assert select("path:./models/payments/") == select("path:models/payments")
    assert select("path:models/pay") == set()


def test_path_selects_one_file_or_a_glob() -> None:
    assert names(select("path:models/reporting/payments_daily.sql")) == {"payments_daily"}
    assert names(select("path:models/*/payments_*.sql", exclude=("resource_type:test",))) == {
        "payments_clean",
        "payments_enriched",
        "payments_daily",
    }
    assert names(select("path:models/rep*")) == {"payments_daily"}
    assert names(select("path:*.yml", exclude=("resource_type:test",))) == {
        "payments_raw",
        "customers",
        "fraud_dashboard",
    }


def test_config_materialized_selects_by_materialization() -> None:
    assert names(select("config.materialized:connect")) == {"payments_daily"}
    assert names(select("config.materialized:flink", exclude=("resource_type:test",))) == {
        "payments_clean",
        "payments_enriched",
    }


def test_plugin_selects_nodes_a_plugin_compiled() -> None:
    assert names(select("plugin:connect")) == {"payments_daily"}
    assert names(select("plugin:kafka", exclude=("resource_type:test",))) == {
        "payments_raw",
        "customers",
        "payments_clean",
        "payments_enriched",
    }


def test_resource_type_selects_a_kind_of_node() -> None:
    # the test of customers comes along (eager indirect selection, see below)
    assert names(select("resource_type:source")) == {
        "payments_raw",
        "customers",
        "enriched_vs_customers",
    }
    assert names(select("resource_type:exposure")) == {"fraud_dashboard"}
    assert names(select("resource_type:test")) == {"payments_quality", "enriched_vs_customers"}


def test_source_exposure_and_test_name_select_only_that_kind() -> None:
    assert names(select("source:payments_raw")) == {"payments_raw"}
    assert names(select("source:*", exclude=("resource_type:test",))) == {
        "payments_raw",
        "customers",
    }
    assert names(select("exposure:fraud_dashboard")) == {"fraud_dashboard"}
    assert names(select("test_name:payments_quality")) == {"payments_quality"}
    # source: does not pick a model that happens to share the name
    assert select("source:payments_clean") == set()


def test_fqn_is_the_same_as_a_bare_name() -> None:
    assert select("fqn:payments_daily") == select("payments_daily")


def test_a_method_value_that_matches_nothing_selects_nothing() -> None:
    assert select("tag:nope") == set()
    assert select("plugin:nope", "payments_daily") == {"model.payments_daily"}


def test_source_plus_selects_what_is_built_from_a_source() -> None:
    assert names(select("source:customers+")) == {
        "customers",
        "payments_enriched",
        "payments_daily",
        "fraud_dashboard",
        "enriched_vs_customers",
    }


# -- union, intersection, exclusion -------------------------------------------------------------


def test_spaces_and_separate_values_union() -> None:
    expected = {"payments_daily", "fraud_dashboard"}
    assert names(select("payments_daily fraud_dashboard")) == expected
    assert names(select("payments_daily", "fraud_dashboard")) == expected
    assert names(select("  payments_daily\tfraud_dashboard  ")) == expected


def test_commas_intersect() -> None:
    assert names(select("tag:payments,config.materialized:flink,payments_clean+")) == {
        "payments_clean",
        "payments_enriched",
        "payments_quality",  # the tests come along
        "enriched_vs_customers",
    }
    assert names(select("tag:pii,resource_type:source")) == set()


def test_intersections_union_with_other_parts() -> None:
    assert names(select("tag:pii,resource_type:model payments_daily")) == {
        "payments_clean",
        "payments_quality",
        "payments_daily",
    }


def test_exclude_removes_nodes_at_the_end() -> None:
    assert names(select("payments_clean+", exclude=("payments_enriched+",))) == {
        "payments_clean",
        "payments_quality",
    }
    assert names(select(exclude=("resource_type:test resource_type:source",))) == {
        "payments_clean",
        "payments_enriched",
        "payments_daily",
        "fraud_dashboard",
    }


def test_exclude_uses_the_same_grammar_including_commas() -> None:
    assert names(
        select("tag:payments", exclude=("tag:payments,resource_type:source", "tag:pii"))
    ) == {"payments_enriched", "enriched_vs_customers"}


# -- eager indirect selection of tests ----------------------------------------------------------


def test_a_test_comes_along_when_any_of_its_parents_is_selected() -> None:
    # enriched_vs_customers tests payments_enriched and customers; selecting either brings it.
    assert names(select("customers")) == {"customers", "enriched_vs_customers"}
    assert names(select("payments_enriched")) == {"payments_enriched", "enriched_vs_customers"}


def test_an_excluded_test_stays_out() -> None:
    assert names(select("payments_clean", exclude=("payments_quality",))) == {"payments_clean"}
    assert names(select("customers", exclude=("resource_type:test",))) == {"customers"}


def test_a_test_whose_parents_are_all_excluded_is_not_added() -> None:
    assert names(select("+payments_enriched", exclude=("payments_enriched", "customers"))) == {
        "payments_raw",
        "payments_clean",
        "payments_quality",
    }


# -- errors -------------------------------------------------------------------------------------


def test_an_unknown_name_is_an_error_with_a_suggestion() -> None:
    error = error_of("paymnts_clean")
    assert error.message == "no node named 'paymnts_clean' in the project"
    assert error.hint == "did you mean 'payments_clean'?"
    assert error.render() == (
        "no node named 'paymnts_clean' in the project\n  hint: did you mean 'payments_clean'?"
    )


def test_an_unknown_name_with_nothing_close_points_at_sluice_ls() -> None:
    error = error_of("zzz")
    assert error.message == "no node named 'zzz' in the project"
    assert error.hint == "run `sluice ls` to see node names"


def test_a_name_glob_that_matches_nothing_is_an_error_too() -> None:
    error = error_of("orders_*")
    assert error.message == "no node name matches 'orders_*' in the project"
    assert error.hint == "run `sluice ls` to see node names"


def test_an_unknown_name_in_exclude_is_an_error_too() -> None:
    error = error_of("payments_clean", exclude=("payments_qualty",))
    assert error.message == "no node named 'payments_qualty' in the project"
    assert error.hint == "did you mean 'payments_quality'?"


def test_an_unknown_name_inside_an_operator_is_still_reported() -> None:
    assert error_of("+paymnts_clean+2").message == "no node named 'paymnts_clean' in the project"


def test_an_unknown_method_is_an_error_with_a_suggestion() -> None:
    error = error_of("tags:pii")
    assert error.message == "unknown selection method 'tags' in 'tags:pii'"
    assert error.hint == "did you mean 'tag'?"


def test_an_unknown_method_with_nothing_close_lists_the_methods() -> None:
    error = error_of("colour:red")
    assert error.message == "unknown selection method 'colour' in 'colour:red'"
    assert error.hint == (
        "the methods are config.materialized:, exposure:, fqn:, path:, plugin:, "
        "resource_type:, source:, tag:, test_name:"
    )


@pytest.mark.parametrize("criterion", ["+", "a++", "2+", "++a", "a+b", "a+2x", "@@a", "2"])
def test_a_malformed_criterion_is_named_exactly_with_the_grammar_as_hint(criterion: str) -> None:
    if criterion == "2":
        # "2" alone is a legitimate (if odd) node name, not a malformed criterion
        assert error_of(criterion).message == "no node named '2' in the project"
        return
    error = error_of(criterion)
    assert error.message == f"invalid selection criterion '{criterion}'"
    assert error.hint == GRAMMAR_HINT


def test_a_method_without_a_value_is_malformed() -> None:
    error = error_of("tag:")
    assert error.message == "invalid selection criterion 'tag:': 'tag:' needs a value"
    assert error.hint == GRAMMAR_HINT
    assert error_of(":pii").message == (
        "invalid selection criterion ':pii': a method is missing before ':'"
    )


@pytest.mark.parametrize("selection", [",x", "x,", "a,,b"])
def test_an_empty_criterion_around_a_comma_is_malformed(selection: str) -> None:
    error = error_of(selection)
    assert (
        error.message == f"invalid selection '{selection}': a comma must sit between two criteria"
    )
    assert error.hint == GRAMMAR_HINT


def test_at_with_a_leading_plus_is_an_error() -> None:
    error = error_of("@+payments_clean")
    assert error.message == (
        "invalid selection criterion '@+payments_clean': '@' already selects the ancestors, "
        "so it cannot be combined with a leading '+'"
    )
    assert error.hint == GRAMMAR_HINT
    assert error_of("@2+payments_clean").message.startswith(
        "invalid selection criterion '@2+payments_clean': '@'"
    )


def test_a_malformed_criterion_is_reported_before_any_name_is_looked_up() -> None:
    # the unknown name comes first, but the malformed exclusion is what gets reported
    error = error_of("nope", exclude=("a++",))
    assert error.message == "invalid selection criterion 'a++'"


# -- parsing ------------------------------------------------------------------------------------


def test_parse_criterion_reads_every_part_of_the_grammar() -> None:
    assert parse_criterion("2+tag:pii+3") == Criterion(
        text="2+tag:pii+3",
        method="tag",
        value="pii",
        parents=True,
        parents_depth=2,
        children=True,
        children_depth=3,
    )
    assert parse_criterion("@payments_clean") == Criterion(
        text="@payments_clean", method=None, value="payments_clean", childrens_parents=True
    )
    assert parse_criterion("path:models/a:b.sql").value == "models/a:b.sql"
    assert parse_criterion("config.materialized:flink").method == "config.materialized"


def test_parse_selection_is_a_union_of_intersections() -> None:
    parsed = parse_selection(["a,b c", "d"])
    assert [[c.text for c in intersection] for intersection in parsed] == [["a", "b"], ["c"], ["d"]]


# -- size ---------------------------------------------------------------------------------------


def test_selection_works_on_a_20000_node_chain() -> None:
    uids = [f"model.m{i:05d}" for i in range(20_000)]
    facts = {
        uid: NodeFacts(uid, uid[6:], "model", f"models/{uid[6:]}.sql", tags=("t",)) for uid in uids
    }
    graph = Graph(uids, list(itertools.pairwise(uids)))
    assert select_nodes(graph, facts, ["@m10000"]) == set(uids)
    assert select_nodes(graph, facts, ["+tag:t+"], ["m00000+1"]) == set(uids[2:])
    assert len(select_nodes(graph, facts, ["m1*,path:models/m19*"])) == 1000
