"""Bulk statements: every row lands, and only a few statement sizes are ever compiled."""

from __future__ import annotations

import pytest
from sqlalchemy import Column, Integer, MetaData, String, Table, create_engine, func, select

from axtui.store import bulk


@pytest.mark.parametrize("n", [0, 1, 7, 199, 200, 201, 457, 1000])
def test_chunk_sizes_cover_every_row_with_few_distinct_sizes(n):
    sizes = bulk.chunk_sizes(n, 200)
    assert sum(sizes) == n
    assert all(s == 200 or (s & (s - 1)) == 0 for s in sizes)  # full, or a power of two
    assert len(set(sizes)) <= 9


def test_rows_of_any_count_go_in_and_compiled_statements_stay_few(tmp_path):
    engine = create_engine(f"sqlite:///{tmp_path / 'b.db'}")
    meta = MetaData()
    t = Table("t", meta, Column("k", String, primary_key=True), Column("n", Integer))
    meta.create_all(engine)
    bulk._statement.cache_clear()
    total = 0
    with engine.begin() as conn:
        for batch in range(1, 300):  # every remainder from 1 to 299
            rows = [(f"{batch}-{i}", i) for i in range(batch)]
            bulk.execute_rows(conn, t, ("k", "n"), rows, max_params=32766)
            total += batch
        count = conn.execute(select(func.count()).select_from(t)).scalar()
        summed = conn.execute(select(func.sum(t.c.n))).scalar()
    assert count == total
    assert summed == sum(i for batch in range(1, 300) for i in range(batch))
    # 200 and the powers of two below it: 9 sizes, not one per remainder
    assert bulk._statement.cache_info().currsize <= 9


def test_rows_given_in_another_column_order_than_the_tables_land_right(tmp_path):
    engine = create_engine(f"sqlite:///{tmp_path / 'b.db'}")
    meta = MetaData()
    t = Table("t", meta, Column("k", String, primary_key=True), Column("n", Integer),
              Column("s", String))
    meta.create_all(engine)
    rows = [(i, f"k{i}", f"s{i}") for i in range(333)]  # ordered n, k, s
    with engine.begin() as conn:
        bulk.execute_rows(conn, t, ("n", "k", "s"), rows, max_params=32766)
        got = conn.execute(select(t.c.k, t.c.n, t.c.s).order_by(t.c.n)).all()
    assert [tuple(r) for r in got] == [(f"k{i}", i, f"s{i}") for i in range(333)]
