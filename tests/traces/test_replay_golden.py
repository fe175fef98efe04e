"""A faithful replay of each bundled trace says, byte for byte, what it said before replay was
made fast, and leaves the same store: the same request rows (in the same order), rollups,
alert states and counters. The saved copies in golden/ were made by the replay before that
work (commit cba5d39); `python -m tests.traces.test_replay_golden` makes them again, for a
change that means to alter the output (say why in its commit)."""

from __future__ import annotations

import hashlib
import sqlite3
from pathlib import Path

import orjson
import pytest

from axtui.config import load_config
from axtui.traces.replay.run import ReplayOptions, bundled_traces, replay

GOLDEN = Path(__file__).parent / "golden"
TRACES = ("normal-day", "provider-outage", "rate-limit-storm")
# what a replay writes (a table another part adds stays out of the comparison)
TABLES = ("alert_state", "control", "counter", "event", "request", "rollup_errors",
          "rollup_hist", "rollups")


def faithful(name: str, db: Path) -> tuple[bytes, bytes]:
    """The replay's --json output (its path made the trace's name) and its store's digest."""
    out = replay(ReplayOptions(trace=name, config=load_config(), store_url=f"sqlite:///{db}"))
    out["trace"]["path"] = name
    text = orjson.dumps(out, option=orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS)
    return text, orjson.dumps(digest(db), option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS)


def digest(db: Path) -> dict:
    """Per table of TABLES, its row count and a hash of its rows (sorted; `seq` left out, the
    order of the request rows hashed apart)."""
    conn = sqlite3.connect(db)
    try:
        out: dict = {}
        for table in TABLES:
            cols = [r[1] for r in conn.execute(f"PRAGMA table_info({table})") if r[1] != "seq"]
            rows = sorted(map(repr, conn.execute(f"SELECT {', '.join(cols)} FROM {table}")))
            out[table] = [len(rows), hashlib.sha256("\n".join(rows).encode()).hexdigest()]
        ids = [i for (i,) in conn.execute("SELECT id FROM request ORDER BY seq")]
        out["request order"] = hashlib.sha256("\n".join(ids).encode()).hexdigest()
        return out
    finally:
        conn.close()


@pytest.mark.parametrize("name", TRACES)
def test_a_bundled_trace_replays_to_its_saved_output_and_store(name, tmp_path):
    assert name in bundled_traces()
    text, store = faithful(name, tmp_path / "replay.db")
    assert text == (GOLDEN / f"{name}.json").read_bytes()
    assert store == (GOLDEN / f"{name}.store.json").read_bytes()


if __name__ == "__main__":
    import tempfile

    GOLDEN.mkdir(exist_ok=True)
    for trace in TRACES:
        with tempfile.TemporaryDirectory() as tmp:
            text, store = faithful(trace, Path(tmp) / "replay.db")
        (GOLDEN / f"{trace}.json").write_bytes(text)
        (GOLDEN / f"{trace}.store.json").write_bytes(store)
        print("wrote", GOLDEN / f"{trace}.json")
