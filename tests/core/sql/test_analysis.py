"""analyze_query: the inputs, output columns, lineage and state of one model's query."""

from __future__ import annotations

import pytest

from sluice.sql import (
    Call,
    ColumnRef,
    OutputColumn,
    SqlAnalysisError,
    SqlSyntaxError,
    analyze_query,
)

UPSTREAM = {
    "payments_clean": [
        ("id", "STRING"),
        ("amount", "DECIMAL(12,2)"),
        ("currency", "STRING"),
        ("ts", "TIMESTAMP(3)"),
    ],
    "orders": [
        ("id", "STRING"),
        ("currency", "STRING"),
        ("tags", "ARRAY<STRING>"),
        ("proc_time", "TIMESTAMP_LTZ(3)"),
    ],
    "rates": [("currency", "STRING"), ("rate", "DOUBLE")],
    "shipments": [("order_id", "STRING"), ("ts", "TIMESTAMP(3)")],
    "clicks": [],  # declared, but without columns
}


def ref(relation: str, column: str) -> ColumnRef:
    return ColumnRef(relation, column)


# -- state: which constructs keep state, and which results update ------------------------------

STATE_CASES = {
    # name: (sql, stateful_constructs, updating)
    "projection and filter": (
        "SELECT id, amount FROM `payments_clean` WHERE amount > 10",
        (),
        False,
    ),
    "group by": (
        "SELECT currency, COUNT(*) AS n FROM payments_clean GROUP BY currency",
        ("GROUP BY", "aggregate COUNT"),
        True,
    ),
    "global aggregate": (
        "SELECT SUM(amount) AS total FROM payments_clean",
        ("aggregate SUM",),
        True,
    ),
    "window TVF aggregate": (
        """SELECT window_start, window_end, SUM(amount) AS total
           FROM TABLE(TUMBLE(TABLE `payments_clean`, DESCRIPTOR(ts), INTERVAL '1' MINUTE))
           GROUP BY window_start, window_end""",
        ("GROUP BY", "aggregate SUM", "window TVF TUMBLE"),
        False,
    ),
    "hop with named arguments": (
        """SELECT window_start, window_end, COUNT(*) AS n
           FROM TABLE(HOP(DATA => TABLE payments_clean, TIMECOL => DESCRIPTOR(ts),
                          SLIDE => INTERVAL '5' MINUTES, SIZE => INTERVAL '10' MINUTES))
           GROUP BY window_start, window_end""",
        ("GROUP BY", "aggregate COUNT", "window TVF HOP"),
        False,
    ),
    "window TVF alone": (
        "SELECT * FROM TABLE(TUMBLE(TABLE payments_clean, DESCRIPTOR(ts), INTERVAL '1' MINUTE))",
        (),
        False,
    ),
    "regular inner join": (
        "SELECT o.id, p.amount FROM orders o JOIN payments_clean p ON o.id = p.id",
        ("JOIN",),
        False,
    ),
    "left join": (
        "SELECT o.id, p.amount FROM orders o LEFT JOIN payments_clean p ON o.id = p.id",
        ("JOIN",),
        True,
    ),
    "interval join": (
        """SELECT p.id, s.ts AS shipped_at FROM payments_clean p, shipments s
           WHERE p.id = s.order_id AND p.ts BETWEEN s.ts - INTERVAL '1' HOUR AND s.ts""",
        ("interval JOIN",),
        False,
    ),
    "temporal join": (
        """SELECT o.id, r.rate FROM orders AS o
           JOIN rates FOR SYSTEM_TIME AS OF o.proc_time AS r ON o.currency = r.currency""",
        ("temporal JOIN",),
        False,
    ),
    "over window": (
        """SELECT id, SUM(amount) OVER (PARTITION BY id ORDER BY ts
               RANGE BETWEEN INTERVAL '1' HOUR PRECEDING AND CURRENT ROW) AS hour_total
           FROM payments_clean""",
        ("OVER window",),
        False,
    ),
    "top-n": (
        """SELECT id, amount FROM (
               SELECT *, ROW_NUMBER() OVER (PARTITION BY currency ORDER BY amount DESC) AS rn
               FROM payments_clean)
           WHERE rn <= 3""",
        ("Top-N",),
        True,
    ),
    "distinct": ("SELECT DISTINCT currency FROM payments_clean", ("DISTINCT",), True),
    "match_recognize": (
        """SELECT * FROM payments_clean MATCH_RECOGNIZE (
               PARTITION BY currency ORDER BY ts
               MEASURES A.ts AS start_ts, LAST(B.amount) AS last_amount
               ONE ROW PER MATCH
               PATTERN (A B+)
               DEFINE B AS B.amount > A.amount) AS m""",
        ("MATCH_RECOGNIZE",),
        False,
    ),
    "match_recognize within a time": (
        """SELECT * FROM payments_clean MATCH_RECOGNIZE (
               PARTITION BY currency ORDER BY ts
               MEASURES A.ts AS start_ts, LAST(B.amount) AS last_amount
               AFTER MATCH SKIP PAST LAST ROW
               PATTERN (A B+) WITHIN INTERVAL '1' HOUR
               DEFINE B AS B.amount > A.amount) AS m""",
        ("MATCH_RECOGNIZE",),
        False,
    ),
    "unnest": (
        "SELECT o.id, t.tag FROM orders AS o CROSS JOIN UNNEST(o.tags) AS t (tag)",
        (),
        False,
    ),
    "lateral table": (
        "SELECT o.id, w FROM orders AS o, LATERAL TABLE(split(o.currency)) AS T(w)",
        (),
        False,
    ),
    "window join": (
        """SELECT L.id, L.window_start, L.window_end
           FROM (SELECT * FROM TABLE(
                   TUMBLE(TABLE payments_clean, DESCRIPTOR(ts), INTERVAL '5' MINUTES))) L
           JOIN (SELECT * FROM TABLE(
                   TUMBLE(TABLE shipments, DESCRIPTOR(ts), INTERVAL '5' MINUTES))) R
           ON L.id = R.order_id
              AND L.window_start = R.window_start AND L.window_end = R.window_end""",
        ("window JOIN", "window TVF TUMBLE"),
        False,
    ),
    "window top-n": (
        """SELECT * FROM (
               SELECT *, ROW_NUMBER() OVER (
                   PARTITION BY window_start, window_end ORDER BY total DESC) AS rn
               FROM (SELECT window_start, window_end, currency, SUM(amount) AS total
                     FROM TABLE(TUMBLE(TABLE payments_clean, DESCRIPTOR(ts), INTERVAL '10' MINUTES))
                     GROUP BY window_start, window_end, currency))
           WHERE rn <= 3""",
        ("GROUP BY", "aggregate SUM", "window TVF TUMBLE", "window Top-N"),
        False,
    ),
    "legacy group window": (
        """SELECT id, COUNT(*) AS n FROM payments_clean
           GROUP BY TUMBLE(ts, INTERVAL '1' HOUR), id""",
        ("GROUP BY", "aggregate COUNT", "group window TUMBLE"),
        False,
    ),
    "session window": (
        """SELECT window_start, window_end, currency, COUNT(*) AS n
           FROM TABLE(SESSION(TABLE payments_clean PARTITION BY currency,
                              DESCRIPTOR(ts), INTERVAL '5' MINUTES))
           GROUP BY window_start, window_end, currency""",
        ("GROUP BY", "aggregate COUNT", "window TVF SESSION"),
        False,
    ),
    "union all": (
        "SELECT id FROM orders UNION ALL SELECT id FROM payments_clean",
        (),
        False,
    ),
    "union": (
        "SELECT id FROM orders UNION SELECT id FROM payments_clean",
        ("UNION",),
        True,
    ),
}


@pytest.mark.parametrize("name", STATE_CASES)
def test_state_and_updates_per_construct(name: str) -> None:
    sql, constructs, updating = STATE_CASES[name]

    analysis = analyze_query(sql, UPSTREAM)

    assert analysis.stateful_constructs == constructs
    assert analysis.stateful is bool(constructs)
    assert analysis.updating is updating


# -- relations ----------------------------------------------------------------------------------


def test_relations_are_listed_in_order_of_first_appearance_without_ctes() -> None:
    sql = """
        WITH big AS (SELECT id, amount FROM payments_clean WHERE amount > 100)
        SELECT o.id, b.amount, (SELECT MAX(rate) FROM rates) AS top_rate
        FROM orders o JOIN big b ON o.id = b.id JOIN payments_clean p ON p.id = o.id
    """

    analysis = analyze_query(sql, UPSTREAM)

    assert analysis.relations == ("payments_clean", "rates", "orders")


# -- columns: names, types, lineage -------------------------------------------------------------


def test_a_cast_types_its_column_with_the_flink_spelling_of_the_type() -> None:
    # sqlglot reads STRING as its TEXT and TIMESTAMP_LTZ as TIMESTAMPLTZ: neither is a Flink
    # type, and a sink table declared with them is refused at apply
    sql = """
        SELECT CAST(id AS STRING) AS s, CAST(ts AS TIMESTAMP_LTZ(3)) AS t,
               CAST(id AS VARCHAR(10)) AS v, CAST(id AS BYTES) AS b,
               CAST(ARRAY[id] AS ARRAY<STRING>) AS a,
               CAST(ROW(id, ts) AS ROW<k STRING, `at` ARRAY<ROW(t TIMESTAMP(3))>>) AS r,
               ROW(id, currency) AS plain_row
        FROM payments_clean
    """

    columns = analyze_query(sql, UPSTREAM).columns

    assert [(c.name, c.type) for c in columns] == [
        ("s", "STRING"),
        ("t", "TIMESTAMP_LTZ(3)"),
        ("v", "VARCHAR(10)"),
        ("b", "BYTES"),
        ("a", "ARRAY<STRING>"),
        ("r", "ROW<`k` STRING,`at` ARRAY<ROW<`t` TIMESTAMP(3)>>>"),
        ("plain_row", None),
    ]


@pytest.mark.parametrize(
    ("sql", "error"),
    [
        (
            "SELECT CAST(id AS STRIN) AS s FROM orders",
            ("unknown type 'STRIN': Flink SQL has no such type", 1, 19, "did you mean 'STRING'?"),
        ),
        (
            "SELECT id\nFROM orders WHERE CAST(id as foo) = 'x'",
            (
                "unknown type 'foo': Flink SQL has no such type",
                2,
                30,
                "write a Flink type such as STRING, BIGINT, DECIMAL(12,2) or TIMESTAMP(3)",
            ),
        ),
    ],
)
def test_a_type_flink_does_not_have_is_an_error_at_its_name(
    sql: str, error: tuple[str, int, int, str]
) -> None:
    with pytest.raises(SqlAnalysisError) as raised:
        analyze_query(sql, UPSTREAM)

    assert raised.value.args == error


def _reserved(word: str, line: int, column: int) -> tuple[str, int, int, str]:
    return (
        f"'{word}' is a reserved word in Flink SQL and cannot be a name unquoted",
        line,
        column,
        f"quote it with backticks: `{word}` (or choose another name)",
    )


# Flink's parser refuses each of these (checked with Flink 2.2.1); the job would fail at apply
@pytest.mark.parametrize(
    ("sql", "error"),
    [
        ("SELECT id, amount AS value FROM payments_clean", _reserved("value", 1, 22)),
        ("SELECT id\nFROM payments_clean AS at", _reserved("at", 2, 24)),
        ("SELECT p.method FROM payments_clean AS p", _reserved("method", 1, 10)),
        ("SELECT id FROM orders WHERE year > 2000", _reserved("year", 1, 29)),
        ("SELECT CAST(id AS ROW<result STRING>) AS r FROM orders", _reserved("result", 1, 23)),
        ("WITH window AS (SELECT id FROM orders) SELECT id FROM window", _reserved("window", 1, 6)),
    ],
)
def test_an_unquoted_reserved_word_is_an_error_at_the_word(
    sql: str, error: tuple[str, int, int, str]
) -> None:
    with pytest.raises(SqlAnalysisError) as raised:
        analyze_query(sql, UPSTREAM)

    assert raised.value.args == error


def test_reserved_words_pass_quoted_and_as_the_values_flink_reads_them_as() -> None:
    sql = """
        SELECT `value`, p.`method`, CURRENT_DATE AS today, CURRENT_TIMESTAMP AS now_ts
        FROM (SELECT amount AS `value`, 'card' AS `method` FROM payments_clean) AS p
        WHERE TRUE AND `value` IS NOT NULL
    """

    names = [c.name for c in analyze_query(sql, UPSTREAM).columns]

    assert names == ["value", "method", "today", "now_ts"]


def test_timestampadd_and_timestampdiff_take_a_unit_first_not_a_column() -> None:
    # Flink's TIMESTAMPDIFF(unit, from, to): sqlglot's own reads its arguments in another order
    sql = """
        SELECT TIMESTAMPDIFF(SECOND, ts, TIMESTAMPADD(DAY, 1, ts)) AS horizon,
               timestampadd(minute, 5, ts) AS later
        FROM payments_clean
    """

    columns = analyze_query(sql, UPSTREAM).columns

    assert columns == (
        OutputColumn("horizon", "INT", (ref("payments_clean", "ts"),)),
        OutputColumn("later", "TIMESTAMP(3)", (ref("payments_clean", "ts"),)),
    )


def test_calls_of_functions_sqlglot_does_not_know_are_listed_where_they_are_written() -> None:
    sql = (
        "SELECT UPPER(id) AS a,\n  DATE_FORMT(ts, 'yyyy') AS b, my_udf(id) AS c FROM payments_clean"
    )

    calls = analyze_query(sql, UPSTREAM).calls

    assert calls == (Call("DATE_FORMT", 2, 3), Call("my_udf", 2, 32))


def test_the_clauses_of_flink_json_functions_parse_and_returning_types_the_column() -> None:
    sql = """
        SELECT JSON_VALUE(id, '$.n' RETURNING DECIMAL(10, 2) DEFAULT 0 ON EMPTY) AS n,
               JSON_VALUE(id, '$.s' NULL ON EMPTY ERROR ON ERROR) AS s,
               JSON_QUERY(id, '$.a' WITH CONDITIONAL ARRAY WRAPPER) AS a,
               JSON_EXISTS(id, '$.b' FALSE ON ERROR) AS b,
               JSON_ARRAY(id, currency NULL ON NULL) AS pair,
               JSON_ARRAY(currency IS NULL, amount IS NOT NULL) AS flags
        FROM payments_clean
    """

    columns = analyze_query(sql, UPSTREAM).columns

    assert [(c.name, c.type, c.lineage) for c in columns] == [
        ("n", "DECIMAL(10,2)", (ref("payments_clean", "id"),)),
        ("s", "STRING", (ref("payments_clean", "id"),)),
        ("a", "STRING", (ref("payments_clean", "id"),)),
        ("b", "BOOLEAN", (ref("payments_clean", "id"),)),
        ("pair", "STRING", (ref("payments_clean", "currency"), ref("payments_clean", "id"))),
        ("flags", "STRING", (ref("payments_clean", "amount"), ref("payments_clean", "currency"))),
    ]


@pytest.mark.parametrize("aggregate", ["LISTAGG(id, ',')", "JSON_ARRAYAGG(id)", "COLLECT(id)"])
def test_flink_aggregates_sqlglot_does_not_know_keep_state_and_update(aggregate: str) -> None:
    analysis = analyze_query(f"SELECT {aggregate} AS agg FROM payments_clean", UPSTREAM)

    name = aggregate.split("(")[0]
    assert (analysis.stateful_constructs, analysis.updating) == ((f"aggregate {name}",), True)


def test_a_projection_passes_names_types_and_lineage_through() -> None:
    sql = """
        SELECT id AS payment_id, amount, CAST(amount AS DECIMAL(10, 0)) AS whole,
               UPPER(currency) AS cur, COUNT(*) OVER (PARTITION BY id ORDER BY ts) AS seen,
               'card' AS `method`, 1 AS `one`, TRUE AS flag, 2.50 AS fee, amount > 0 AS positive
        FROM payments_clean
    """

    columns = analyze_query(sql, UPSTREAM).columns

    assert columns == (
        OutputColumn("payment_id", "STRING", (ref("payments_clean", "id"),)),
        OutputColumn("amount", "DECIMAL(12,2)", (ref("payments_clean", "amount"),)),
        OutputColumn("whole", "DECIMAL(10,0)", (ref("payments_clean", "amount"),)),
        OutputColumn("cur", "STRING", (ref("payments_clean", "currency"),)),
        OutputColumn("seen", "BIGINT", (ref("payments_clean", "id"), ref("payments_clean", "ts"))),
        OutputColumn("method", "STRING", ()),
        OutputColumn("one", "INT", ()),
        OutputColumn("flag", "BOOLEAN", ()),
        OutputColumn("fee", "DECIMAL(3,2)", ()),
        OutputColumn("positive", "BOOLEAN", (ref("payments_clean", "amount"),)),
    )


def test_star_expands_in_declared_order() -> None:
    analysis = analyze_query("SELECT * FROM payments_clean", UPSTREAM)

    assert [(c.name, c.type) for c in analysis.columns] == [
        ("id", "STRING"),
        ("amount", "DECIMAL(12,2)"),
        ("currency", "STRING"),
        ("ts", "TIMESTAMP(3)"),
    ]
    assert analysis.columns[1].lineage == (ref("payments_clean", "amount"),)


def test_star_over_a_window_tvf_adds_the_window_columns() -> None:
    sql = "SELECT * FROM TABLE(TUMBLE(TABLE payments_clean, DESCRIPTOR(ts), INTERVAL '1' MINUTE))"

    columns = analyze_query(sql, UPSTREAM).columns

    assert [(c.name, c.type) for c in columns][-3:] == [
        ("window_start", "TIMESTAMP(3)"),
        ("window_end", "TIMESTAMP(3)"),
        ("window_time", "TIMESTAMP(3)"),
    ]


def test_a_window_tvf_aggregate_traces_to_its_input() -> None:
    sql = """
        SELECT window_start, window_end, currency,
               SUM(amount) AS total, COUNT(*) AS n, AVG(amount) AS mean
        FROM TABLE(TUMBLE(TABLE `payments_clean`, DESCRIPTOR(ts), INTERVAL '1' MINUTE))
        GROUP BY window_start, window_end, currency
    """

    columns = analyze_query(sql, UPSTREAM).columns

    assert columns == (
        OutputColumn("window_start", "TIMESTAMP(3)", (ref("payments_clean", "ts"),)),
        OutputColumn("window_end", "TIMESTAMP(3)", (ref("payments_clean", "ts"),)),
        OutputColumn("currency", "STRING", (ref("payments_clean", "currency"),)),
        # Flink widens SUM of a decimal to 38 digits, and AVG also to a scale of at least 6
        OutputColumn("total", "DECIMAL(38,2)", (ref("payments_clean", "amount"),)),
        OutputColumn("n", "BIGINT", ()),
        OutputColumn("mean", "DECIMAL(38,6)", (ref("payments_clean", "amount"),)),
    )


def test_a_processing_time_window_has_a_local_time_zone_window_time() -> None:
    sql = """
        SELECT window_time, COUNT(*) AS n
        FROM TABLE(TUMBLE(TABLE orders, DESCRIPTOR(proc_time), INTERVAL '1' MINUTE))
        GROUP BY window_start, window_end, window_time
    """

    columns = analyze_query(sql, UPSTREAM).columns

    assert columns[0] == OutputColumn(
        "window_time", "TIMESTAMP_LTZ(3)", (ref("orders", "proc_time"),)
    )


def test_a_join_of_two_relations_traces_each_side() -> None:
    sql = """
        SELECT o.id, o.currency, r.rate, p.amount * r.rate AS converted
        FROM orders AS o
        JOIN rates FOR SYSTEM_TIME AS OF o.proc_time AS r ON o.currency = r.currency
        JOIN payments_clean AS p ON p.id = o.id
    """

    analysis = analyze_query(sql, UPSTREAM)

    assert analysis.relations == ("orders", "rates", "payments_clean")
    assert analysis.columns == (
        OutputColumn("id", "STRING", (ref("orders", "id"),)),
        OutputColumn("currency", "STRING", (ref("orders", "currency"),)),
        OutputColumn("rate", "DOUBLE", (ref("rates", "rate"),)),
        OutputColumn("converted", None, (ref("payments_clean", "amount"), ref("rates", "rate"))),
    )


def test_a_join_using_gives_its_columns_once_and_first_as_flink_does() -> None:
    # the column order Flink 2.2 reports (DESCRIBE of a view over such a join)
    sql = "SELECT * FROM orders AS o JOIN payments_clean AS p USING (currency, id)"

    analysis = analyze_query(sql, UPSTREAM)

    assert [c.name for c in analysis.columns] == [
        "currency",
        "id",
        "tags",
        "proc_time",
        "amount",
        "ts",
    ]
    assert analysis.columns[1] == OutputColumn(
        "id", "STRING", (ref("orders", "id"), ref("payments_clean", "id"))
    )


def test_a_using_column_is_named_without_a_qualifier() -> None:
    sql = "SELECT id, o.tags, amount FROM orders o JOIN payments_clean p USING (id)"

    analysis = analyze_query(sql, UPSTREAM)

    assert analysis.columns[0].lineage == (ref("orders", "id"), ref("payments_clean", "id"))
    assert analysis.stateful_constructs == ("JOIN",)


def test_a_using_column_missing_on_one_side_is_named() -> None:
    with pytest.raises(SqlAnalysisError) as caught:
        analyze_query("SELECT id FROM orders JOIN rates USING (id)", UPSTREAM)

    assert caught.value.message == "unknown column 'id' in `rates`"
    assert (caught.value.line, caught.value.column) == (1, 41)


def test_two_output_columns_of_one_name_are_an_error() -> None:
    # Flink renames the second (id0) in a subquery, and refuses both in a sink's table
    sql = "SELECT *\nFROM orders o JOIN payments_clean p ON o.id = p.id"

    with pytest.raises(SqlAnalysisError) as caught:
        analyze_query(sql, UPSTREAM)

    error = caught.value
    assert error.message == "output column 'id' appears twice"
    assert (error.line, error.column) == (1, 8)
    assert error.hint == "give each output column its own name with AS"


def test_a_subquery_whose_columns_share_a_name_is_an_error_too() -> None:
    sql = "SELECT * FROM (SELECT o.id, p.id FROM orders o JOIN payments_clean p ON o.id = p.id)"

    with pytest.raises(SqlAnalysisError) as caught:
        analyze_query(sql, UPSTREAM)

    assert caught.value.message == "output column 'id' appears twice"
    assert (caught.value.line, caught.value.column) == (1, 29)


def test_lineage_goes_through_ctes_and_subqueries() -> None:
    sql = """
        WITH eur AS (
            SELECT id, amount AS eur_amount FROM payments_clean WHERE currency = 'EUR'
        ),
        big AS (SELECT id AS big_id, eur_amount FROM eur WHERE eur_amount > 100)
        SELECT big_id, total
        FROM big
        JOIN (SELECT id, SUM(amount) AS total FROM payments_clean GROUP BY id) AS s
          ON s.id = big.big_id
    """

    columns = analyze_query(sql, UPSTREAM).columns

    assert columns == (
        OutputColumn("big_id", "STRING", (ref("payments_clean", "id"),)),
        OutputColumn("total", "DECIMAL(38,2)", (ref("payments_clean", "amount"),)),
    )


def test_a_union_merges_lineage_by_position() -> None:
    sql = "SELECT id, currency FROM orders UNION ALL SELECT order_id, 'EUR' AS c FROM shipments"

    columns = analyze_query(sql, UPSTREAM).columns

    assert columns == (
        OutputColumn("id", "STRING", (ref("orders", "id"), ref("shipments", "order_id"))),
        OutputColumn("currency", "STRING", (ref("orders", "currency"),)),
    )


def test_match_recognize_emits_partition_keys_then_measures() -> None:
    sql = STATE_CASES["match_recognize"][0]

    columns = analyze_query(sql, UPSTREAM).columns

    assert columns == (
        OutputColumn("currency", "STRING", (ref("payments_clean", "currency"),)),
        OutputColumn("start_ts", "TIMESTAMP(3)", (ref("payments_clean", "ts"),)),
        OutputColumn("last_amount", "DECIMAL(12,2)", (ref("payments_clean", "amount"),)),
    )


def test_relations_with_unknown_columns_are_trusted() -> None:
    sql = "SELECT c.user_id, c.url, o.id FROM clicks c JOIN orders o ON o.id = c.order_id"

    analysis = analyze_query(sql, UPSTREAM)

    assert analysis.columns == (
        OutputColumn("user_id", None, (ref("clicks", "user_id"),)),
        OutputColumn("url", None, (ref("clicks", "url"),)),
        OutputColumn("id", "STRING", (ref("orders", "id"),)),
    )


def test_correlated_subqueries_see_the_outer_query() -> None:
    sql = """
        SELECT id FROM orders o
        WHERE EXISTS (SELECT 1 FROM shipments s WHERE s.order_id = o.id)
    """

    analysis = analyze_query(sql, UPSTREAM)

    assert analysis.relations == ("orders", "shipments")
    assert analysis.stateful_constructs == ("subquery",)


# -- errors -------------------------------------------------------------------------------------


def test_a_syntax_error_on_line_two() -> None:
    sql = "SELECT id, amount\nFROM payments_clean WHERE (amount > 10\n"

    with pytest.raises(SqlSyntaxError) as caught:
        analyze_query(sql, UPSTREAM)

    assert caught.value.message == "syntax error near '10': Expecting )"
    assert (caught.value.line, caught.value.column) == (2, 37)


@pytest.mark.parametrize(
    ("sql", "message"),
    [
        (
            "SELECT id FROM",
            "syntax error near 'FROM': Expected table name but got the end of the query",
        ),
        ("SELECT id FROM orders WHERE (", "syntax error near '(': incomplete Paren"),
    ],
)
def test_a_syntax_error_shows_no_parser_internals(sql: str, message: str) -> None:
    with pytest.raises(SqlSyntaxError) as caught:
        analyze_query(sql, UPSTREAM)

    assert caught.value.message == message


def test_an_unclosed_quote_points_at_where_it_opens() -> None:
    with pytest.raises(SqlSyntaxError) as caught:
        analyze_query("SELECT id\nFROM orders WHERE currency = 'EUR", UPSTREAM)

    assert caught.value.message == "syntax error: ' is opened but never closed"
    assert (caught.value.line, caught.value.column) == (2, 30)


def test_an_unknown_column_says_where_and_what_was_meant() -> None:
    sql = "SELECT id,\n       amont\nFROM `payments_clean`"

    with pytest.raises(SqlAnalysisError) as caught:
        analyze_query(sql, UPSTREAM)

    error = caught.value
    assert error.message == "unknown column 'amont' in `payments_clean`"
    assert (error.line, error.column) == (2, 8)
    assert error.hint == "did you mean 'amount'?"


def test_an_unknown_qualified_column_names_its_relation() -> None:
    sql = "SELECT o.id FROM orders o JOIN rates r ON r.curency = o.currency"

    with pytest.raises(SqlAnalysisError) as caught:
        analyze_query(sql, UPSTREAM)

    assert caught.value.message == "unknown column 'curency' in `rates`"
    assert (caught.value.line, caught.value.column) == (1, 43)
    assert caught.value.hint == "did you mean 'currency'?"


def test_an_ambiguous_column_asks_for_a_qualifier() -> None:
    with pytest.raises(SqlAnalysisError) as caught:
        analyze_query("SELECT currency FROM orders, rates", UPSTREAM)

    assert caught.value.message == "column 'currency' is ambiguous: it is in `orders`, `rates`"
    assert caught.value.hint == "qualify it, e.g. orders.currency"


def test_an_unnamed_expression_asks_for_an_alias() -> None:
    sql = "SELECT id,\n  amount * 2\nFROM payments_clean"

    with pytest.raises(SqlAnalysisError) as caught:
        analyze_query(sql, UPSTREAM)

    error = caught.value
    assert error.message == "the expression `amount * 2` has no name; give it one with AS"
    assert (error.line, error.column) == (2, 3)
    assert error.hint == "write `amount * 2 AS <name>`; Flink would call it EXPR$1"


def test_star_over_undeclared_columns_asks_to_declare_them() -> None:
    sql = "SELECT o.id,\n  c.*\nFROM orders o JOIN clicks c ON c.order_id = o.id"

    with pytest.raises(SqlAnalysisError) as caught:
        analyze_query(sql, UPSTREAM)

    error = caught.value
    assert error.message == "cannot expand *: the columns of `clicks` are not declared"
    assert (error.line, error.column) == (2, 3)
    assert error.hint == "declare `columns:` on clicks, or list the columns you need instead of *"


def test_a_relation_missing_from_upstream_is_undeclared_too() -> None:
    with pytest.raises(SqlAnalysisError) as caught:
        analyze_query("SELECT * FROM `mystery`", UPSTREAM)

    assert caught.value.message == "cannot expand *: the columns of `mystery` are not declared"


def test_the_time_column_of_a_window_must_exist() -> None:
    sql = "SELECT * FROM TABLE(TUMBLE(TABLE orders, DESCRIPTOR(tss), INTERVAL '1' MINUTE))"

    with pytest.raises(SqlAnalysisError) as caught:
        analyze_query(sql, UPSTREAM)

    assert caught.value.message == "unknown column 'tss' in `orders`"
    assert caught.value.hint is None


def test_errors_carry_plain_constructor_arguments() -> None:
    error = SqlAnalysisError("boom", 1, 2, "try again")

    assert error.args == ("boom", 1, 2, "try again")
    assert str(error) == "boom"
    assert SqlSyntaxError("bad", 3, 4).args == ("bad", 3, 4)


def test_arithmetic_types_follow_flinks_widening_rules() -> None:
    upstream = {"t": [("v", "BIGINT"), ("n", "INT"), ("amount", "DECIMAL(12,2)"), ("x", "DOUBLE")]}
    analysis = analyze_query(
        "SELECT v + n AS a, n - 1 AS b, amount * 2 AS c, amount + amount AS d, "
        "amount / n AS e, x * n AS f, n % 7 AS g FROM `t`",
        upstream,
    )
    assert [(c.name, c.type) for c in analysis.columns] == [
        ("a", "BIGINT"),
        ("b", "INT"),
        ("c", "DECIMAL(22,2)"),
        ("d", "DECIMAL(13,2)"),
        ("e", "DECIMAL(23,13)"),
        ("f", "DOUBLE"),
        ("g", "INT"),
    ]
