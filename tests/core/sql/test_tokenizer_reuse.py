"""The Flink dialect reuses one tokenizer per thread: parses stay independent."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from sluice.sql import Flink, parse


def test_each_thread_gets_its_own_tokenizer() -> None:
    dialect = Flink()
    mine = dialect._own_tokenizer(None)
    assert dialect._own_tokenizer(None) is mine
    with ThreadPoolExecutor(1) as pool:
        theirs = pool.submit(dialect._own_tokenizer, None).result()
    assert theirs is not mine


def test_parses_in_parallel_threads_do_not_mix() -> None:
    queries = [f"SELECT c{i}, COUNT(*) AS n FROM `t{i}` GROUP BY c{i}" for i in range(200)]
    expected = [parse(q).sql(dialect="flink") for q in queries]
    with ThreadPoolExecutor(4) as pool:
        got = list(pool.map(lambda q: parse(q).sql(dialect="flink"), queries))
    assert got == expected
