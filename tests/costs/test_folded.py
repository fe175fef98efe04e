"""Spend by user, key and complexity folded into hour and day rows: the same exact answers
as raw rows, however much is folded, and each row folded once even with folders racing."""

from __future__ import annotations

import random
import threading
from collections import Counter

import pytest

from axtui.costs import breakdown, projection
from axtui.costs.folded import fold, watermark
from axtui.store import open_store
from tests.costs.conftest import HOUR, fill, served
from tests.store.factory import T0

DAY = 86_400


@pytest.fixture
def records():
    rng = random.Random(11)
    return [served("a/x", rng.randrange(1, 10**9), at=T0 + rng.uniform(0, 3 * DAY),
                   user=rng.choice(["ann", "bo", "cy", None]), key=rng.choice(["k1", "k2"]),
                   complexity=rng.choice(["simple", "medium", None]))
            for _ in range(600)]


@pytest.fixture
def raw_store(tmp_path):
    s = open_store(f"sqlite:///{tmp_path / 'f.db'}")
    yield s
    s.close()


RANGES = [(T0, T0 + 3 * DAY), (T0 + 90, T0 + 2 * DAY + 5 * HOUR + 600),
          (T0 + DAY + 1800, T0 + DAY + 2 * HOUR), (T0 + 7 * HOUR, T0 + 7 * HOUR + 60)]


def truth(records, by, lo, hi):
    field = {"user": "user", "key": "key_id", "complexity": "complexity"}[by]
    out = Counter()
    for r in records:
        if lo // 60 * 60 <= r.started_at < -(-hi // 60) * 60:
            out[getattr(r, field) or "(none)"] += r.cost_nano
    return {k: v for k, v in out.items() if v}


def answers(store):
    return {(by, lo, hi): {ln.key: ln.cost_nano for ln in breakdown(store, by, lo, hi).lines}
            for by in ("user", "key", "complexity") for lo, hi in RANGES}


def test_answers_are_exact_before_during_and_after_folding(raw_store, records):
    fill(raw_store, records)
    expected = {(by, lo, hi): truth(records, by, lo, hi)
                for by in ("user", "key", "complexity") for lo, hi in RANGES}
    assert answers(raw_store) == expected
    for _ in range(3):
        fold(raw_store, max_rows=150)
        assert answers(raw_store) == expected
    fold(raw_store)
    assert watermark_of(raw_store) == len(records)
    assert answers(raw_store) == expected


def test_rows_recorded_after_a_fold_are_read_raw_until_the_next(raw_store, records):
    fill(raw_store, records[:300])
    fold(raw_store)
    fill(raw_store, records[300:])
    assert answers(raw_store) == {(by, lo, hi): truth(records, by, lo, hi)
                                  for by in ("user", "key", "complexity") for lo, hi in RANGES}


def test_a_second_fold_has_nothing_to_do(raw_store, records):
    fill(raw_store, records)
    assert fold(raw_store) == len(records)
    assert fold(raw_store) == 0


def test_racing_folders_fold_every_row_exactly_once(raw_store, records, monkeypatch):
    import axtui.costs.folded as folded

    monkeypatch.setattr(folded, "CHUNK_ROWS", 37)  # many chunks, so the folders interleave
    fill(raw_store, records)
    other = open_store(str(raw_store.engine.url))
    counts: list[int] = []
    threads = [threading.Thread(target=lambda s=s: counts.append(fold(s)))
               for s in (raw_store, other, raw_store)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    other.close()
    assert sum(counts) == len(records)
    lo, hi = RANGES[0]
    assert {ln.key: ln.cost_nano for ln in breakdown(raw_store, "user", lo, hi).lines} == \
        truth(records, "user", lo, hi)


def test_a_users_projection_reads_folded_hours(raw_store):
    fill(raw_store, [served("a/x", 1_000, at=T0 + h * HOUR + 60, user="ann")
                     for h in range(6)])
    before = projection(raw_store, "day", T0 + 6 * HOUR, scope="user:ann")
    fold(raw_store)
    after = projection(raw_store, "day", T0 + 6 * HOUR, scope="user:ann")
    assert before == after and after.spent_nano == 6_000 and after.projected_nano == 24_000


def watermark_of(store) -> int:
    with store.connect() as conn:
        return watermark(conn)


def test_prune_drops_folded_hours_and_days_past_their_age_and_keeps_the_rest(raw_store):
    from axtui.config import RetentionConfig
    from axtui.costs.folded import prune

    # one request a day for 10 days; keep hours 3 days and days 6 days, asked at day 10
    fill(raw_store, [served("a/x", 1 + d, at=T0 + d * DAY + 60, user="ann") for d in range(10)])
    fold(raw_store)
    now = T0 + 10 * DAY
    recent = breakdown(raw_store, "user", now - 3 * DAY, now).total_nano
    deleted = prune(raw_store, now, RetentionConfig(hour_days=3, day_days=6))
    assert breakdown(raw_store, "user", now - 3 * DAY, now).total_nano == recent == 8 + 9 + 10
    assert deleted == 3 * (7 + 4)  # per dim: hour rows of days 0..6, day rows of days 0..3
    with raw_store.connect() as conn:
        from sqlalchemy import func, select

        from axtui.costs.folded import cost_table
        c = cost_table.c
        left = conn.execute(select(c.res, func.min(c.period)).group_by(c.res)).all()
    assert dict(left) == {3600: T0 + 7 * DAY, 86400: T0 + 4 * DAY}
