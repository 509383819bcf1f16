"""The Flink dialect parses the Flink SQL constructs models are written with."""

from __future__ import annotations

import pytest
import sqlglot
from sqlglot import exp

from sluice.sql import Flink, table_argument

# Each is a real Flink query, as a model's SQL looks after Jinja rendering.
QUERIES = {
    "tumble": """
        SELECT window_start, window_end, SUM(amount) AS total
        FROM TABLE(TUMBLE(TABLE `payments_clean`, DESCRIPTOR(ts), INTERVAL '1' MINUTE))
        GROUP BY window_start, window_end
    """,
    "hop": """
        SELECT window_start, COUNT(*) AS n
        FROM TABLE(HOP(TABLE `bids`, DESCRIPTOR(ts), INTERVAL '5' MINUTES, INTERVAL '10' MINUTES))
        GROUP BY window_start, window_end
    """,
    "cumulate": """
        SELECT window_start, COUNT(*) AS n
        FROM TABLE(CUMULATE(
            TABLE bids, DESCRIPTOR(ts), INTERVAL '2' MINUTES, INTERVAL '10' MINUTES))
        GROUP BY window_start, window_end
    """,
    "session": """
        SELECT window_start, item, COUNT(*) AS n
        FROM TABLE(SESSION(TABLE bids PARTITION BY item, DESCRIPTOR(ts), INTERVAL '5' MINUTES))
        GROUP BY window_start, window_end, item
    """,
    "named arguments": """
        SELECT * FROM TABLE(TUMBLE(
            DATA => TABLE bids, TIMECOL => DESCRIPTOR(ts), SIZE => INTERVAL '10' MINUTES))
    """,
    "temporal join": """
        SELECT o.id, r.rate
        FROM `orders` AS o
        JOIN `rates` FOR SYSTEM_TIME AS OF o.proc_time AS r ON o.currency = r.currency
    """,
    "interval join": """
        SELECT o.id, s.shipped_at
        FROM orders o, shipments s
        WHERE o.id = s.order_id AND o.ts BETWEEN s.ts - INTERVAL '4' HOUR AND s.ts
    """,
    "left join": "SELECT o.id, c.name FROM orders o LEFT JOIN customers c ON o.cid = c.id",
    "over window": """
        SELECT id, SUM(amount) OVER (
            PARTITION BY id ORDER BY ts
            RANGE BETWEEN INTERVAL '1' HOUR PRECEDING AND CURRENT ROW) AS hour_total
        FROM payments
    """,
    "top-n": """
        SELECT * FROM (
            SELECT *, ROW_NUMBER() OVER (PARTITION BY category ORDER BY sales DESC) AS rn
            FROM products)
        WHERE rn <= 3
    """,
    "match_recognize": """
        SELECT * FROM ticker MATCH_RECOGNIZE (
            PARTITION BY symbol ORDER BY ts
            MEASURES START_ROW.ts AS start_ts, LAST(PRICE_DOWN.ts) AS bottom_ts
            ONE ROW PER MATCH
            AFTER MATCH SKIP TO LAST PRICE_UP
            PATTERN (START_ROW PRICE_DOWN+ PRICE_UP)
            DEFINE
                PRICE_DOWN AS (LAST(PRICE_DOWN.price, 1) IS NULL
                    AND PRICE_DOWN.price < START_ROW.price)
                    OR PRICE_DOWN.price < LAST(PRICE_DOWN.price, 1),
                PRICE_UP AS PRICE_UP.price > LAST(PRICE_DOWN.price, 1)
        ) MR
    """,
    "unnest": "SELECT o.id, t.tag FROM orders AS o CROSS JOIN UNNEST(o.tags) AS t (tag)",
    "lateral table": "SELECT o.id, w FROM orders AS o, LATERAL TABLE(split(o.note)) AS T(w)",
    "left lateral": (
        "SELECT o.id, w FROM orders o LEFT JOIN LATERAL TABLE(words(o.note)) AS T(w) ON TRUE"
    ),
    "functions": """
        SELECT CAST(a AS STRING) AS s, TRY_CAST(b AS DECIMAL(12, 2)) AS d,
            CASE WHEN a REGEXP '^x' THEN 1 WHEN REGEXP(a, 'y') THEN 2 ELSE 0 END AS c,
            PROCTIME() AS p, TO_TIMESTAMP_LTZ(ms, 3) AS t, CURRENT_WATERMARK(ts) AS wm,
            COALESCE(a, 'none') AS n, UPPER(TRIM(a)) AS u, DATE_FORMAT(ts, 'yyyy-MM-dd') AS day
        FROM events
    """,
    "constructors and nested types": """
        SELECT ROW(id, amount) AS r, MAP['id', id, 'cur', MAP['c', currency]] AS m,
               ARRAY[id] AS a, CAST(ROW(id) AS ROW<`k` STRING, v ARRAY<ROW(x INT)>>) AS typed,
               CAST(ts AS TIMESTAMP_LTZ(3)) AS at_ltz, CAST(amount AS STRING) AS s
        FROM payments
    """,
    "cte and union": """
        WITH big AS (SELECT id, amount FROM payments WHERE amount > 100)
        SELECT id, amount FROM big
        UNION ALL
        SELECT id, amount FROM refunds WHERE id IN (SELECT id FROM big)
    """,
}


@pytest.mark.parametrize("name", QUERIES)
def test_each_flink_construct_parses(name: str) -> None:
    tree = sqlglot.parse_one(QUERIES[name], read="flink")

    assert isinstance(tree, exp.Query)
    # What the dialect writes back is Flink SQL it reads again, and writes back unchanged.
    written = tree.sql(dialect="flink")
    assert sqlglot.parse_one(written, read="flink").sql(dialect="flink") == written


def test_constructors_and_types_are_written_in_flinks_spelling() -> None:
    tree = sqlglot.parse_one(QUERIES["constructors and nested types"], read="flink")

    written = tree.sql(dialect="flink")

    assert written == (
        "SELECT ROW(id, amount) AS r, MAP['id', id, 'cur', MAP['c', currency]] AS m, "
        "ARRAY[id] AS a, CAST(ROW(id) AS ROW<`k` STRING, `v` ARRAY<ROW<`x` INT>>>) AS typed, "
        "CAST(ts AS TIMESTAMP_LTZ(3)) AS at_ltz, CAST(amount AS STRING) AS s FROM payments"
    )


def test_a_window_tvf_keeps_its_table_argument() -> None:
    tree = sqlglot.parse_one(QUERIES["tumble"], read="flink")

    wrapper = tree.args["from_"].this.this  # FROM TABLE(...)
    tumble = wrapper.expressions[0]
    assert (wrapper.name, tumble.name) == ("TABLE", "TUMBLE")
    data, descriptor, size = tumble.expressions
    assert table_argument(data) is not None
    table, keys = table_argument(data)
    assert (table.name, keys) == ("payments_clean", [])
    assert descriptor.name == "DESCRIPTOR"
    assert isinstance(size, exp.Interval)


def test_session_partition_keys_are_kept() -> None:
    tree = sqlglot.parse_one(QUERIES["session"], read="flink")

    session = tree.args["from_"].this.this.expressions[0]
    parts = table_argument(session.expressions[0])
    assert parts is not None
    assert [key.name for key in parts[1]] == ["item"]
    # The table argument does not shift the positions of the other arguments.
    assert session.expressions[1].name == "DESCRIPTOR"


def test_named_arguments_become_kwargs() -> None:
    tree = sqlglot.parse_one(QUERIES["named arguments"], read="flink")

    names = [kwarg.this.name for kwarg in tree.find_all(exp.Kwarg)]
    assert names == ["DATA", "TIMECOL", "SIZE"]


def test_flink_spelling_is_written_back() -> None:
    sql = (
        "SELECT CAST(a AS STRING) AS s, a REGEXP 'x' AS r FROM `my table` "
        "JOIN rates FOR SYSTEM_TIME AS OF o.pt AS r ON TRUE"
    )

    written = sqlglot.transpile(sql, read="flink", write="flink")[0]

    assert written == (
        "SELECT CAST(a AS STRING) AS s, REGEXP(a, 'x') AS r FROM `my table` "
        "JOIN rates FOR SYSTEM_TIME AS OF o.pt AS r ON TRUE"
    )


def test_functions_sqlglot_renames_are_written_as_flink_has_them() -> None:
    sql = (
        "SELECT CHAR_LENGTH(s) > 2 AND POSITION('a' IN s) > 0 AND a = ARRAY[1, b] "
        "AND ts < CURRENT_TIMESTAMP AS ok FROM t"
    )

    written = sqlglot.transpile(sql, read="flink", write="flink", identify=True)[0]

    assert written == (
        "SELECT CHAR_LENGTH(`s`) > 2 AND POSITION('a' IN `s`) > 0 AND `a` = ARRAY[1, `b`] "
        "AND `ts` < CURRENT_TIMESTAMP AS `ok` FROM `t`"
    )


def test_a_user_function_named_like_a_builtin_still_parses() -> None:
    # sqlglot's SPLIT takes two arguments; a Flink UDTF `split(s)` takes one.
    tree = sqlglot.parse_one("SELECT w FROM t, LATERAL TABLE(split(t.s)) AS T(w)", read="flink")

    assert tree.find(exp.Lateral) is not None


def test_a_missing_operand_is_still_a_syntax_error() -> None:
    with pytest.raises(sqlglot.ParseError):
        sqlglot.parse_one("SELECT a > FROM t", read="flink")


def test_the_dialect_is_registered() -> None:
    assert sqlglot.Dialect.get_or_raise("flink").__class__ is Flink
