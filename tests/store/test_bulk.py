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


@pytest.mark.parametrize("max_params", [32766, 0])  # 0: one row per statement
def test_rows_given_in_another_column_order_than_the_tables_land_right(tmp_path, max_params):
    engine = create_engine(f"sqlite:///{tmp_path / 'b.db'}")
    meta = MetaData()
    t = Table("t", meta, Column("k", String, primary_key=True), Column("n", Integer),
              Column("s", String))
    meta.create_all(engine)
    rows = [(i, f"k{i}", f"s{i}") for i in range(333)]  # ordered n, k, s
    with engine.begin() as conn:
        bulk.execute_rows(conn, t, ("n", "k", "s"), rows, max_params=max_params)
        got = conn.execute(select(t.c.k, t.c.n, t.c.s).order_by(t.c.n)).all()
    assert [tuple(r) for r in got] == [(f"k{i}", i, f"s{i}") for i in range(333)]


def test_a_many_row_statement_is_what_sqlalchemy_would_compile():
    """Many-row statements repeat the one-row VALUES group rather than compile thousands of
    parameters: the SQL must be what SQLAlchemy itself compiles, parameters row by row."""
    from sqlalchemy.dialects import sqlite

    from axtui.store.bulk import _statement
    from axtui.store.tables import ROLLUP_COUNTERS, rollup_table

    dialect = sqlite.dialect(paramstyle="qmark")
    keys = ("res", "period", "route", "deployment")
    columns = (*keys, *ROLLUP_COUNTERS)
    sql, order = _statement(dialect, rollup_table, columns, keys, 3)
    base = sqlite.insert(rollup_table).values([dict.fromkeys(columns)] * 3)
    stmt = base.on_conflict_do_update(
        index_elements=list(keys),
        set_={c: rollup_table.c[c] + base.excluded[c] for c in columns if c not in keys})
    compiled = stmt.compile(dialect=dialect)
    assert sql == str(compiled)
    assert order == tuple(range(len(columns)))
    assert [n.rsplit("_m", 1)[0] for n in compiled.positiontup] == list(columns) * 3
