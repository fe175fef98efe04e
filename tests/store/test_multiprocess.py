"""A real second process writes to the same SQLite file at the same time: no row lost."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from sqlalchemy import text

from axtui.store import Recorder, open_store
from axtui.store.ingest import WRITTEN_COUNTER
from tests.store.factory import T0, record

REPO = Path(__file__).resolve().parents[2]
N = 3000

CHILD = textwrap.dedent(
    """
    import sys, time
    from axtui.store import Recorder, open_store
    from tests.store.factory import T0, record

    import os

    store = open_store(sys.argv[1])
    n, go = int(sys.argv[2]), sys.argv[3]
    start = time.time()
    recorder = Recorder(store, flush_interval_s=0.005, batch_max=100)
    for i in range(n):
        if i == n // 2:  # the second half waits for the parent, so the two surely overlap
            deadline = time.time() + 30
            while not os.path.exists(go) and time.time() < deadline:
                time.sleep(0.005)
        recorder.submit(record(id=f"child-{i}", started_at=T0 + i % 120))
        if i % 100 == 99:
            recorder.flush()  # many small transactions: many chances to collide
    recorder.close()
    stats = recorder.stats()
    print(start, time.time(), stats.written, stats.failed, stats.write_errors)
    store.close()
    """
)


def test_two_processes_writing_one_file_lose_no_rows(tmp_path):
    url = f"sqlite:///{tmp_path / 'shared.db'}"
    go = tmp_path / "go"
    store = open_store(url)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, url, str(N), str(go)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=REPO,
    )

    def child_rows() -> int:
        with store.connect() as conn:
            q = text("SELECT count(*) FROM request WHERE id LIKE 'child-%'")
            return conn.execute(q).scalar()

    deadline = time.monotonic() + 15
    while child_rows() == 0 and child.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    parent_start = time.time()
    go.touch()
    recorder = Recorder(store, flush_interval_s=0.005, batch_max=100)
    for i in range(N):
        recorder.submit(record(id=f"parent-{i}", started_at=T0 + i % 120))
        if i % 100 == 99:
            recorder.flush()
    recorder.close()
    parent_end = time.time()
    out, err = child.communicate(timeout=60)
    assert child.returncode == 0, err
    child_start, child_end, written, failed, _ = (float(x) for x in out.split())

    assert child_start < parent_end and parent_start < child_end  # they overlapped
    assert (written, failed, recorder.stats().failed) == (N, 0, 0)
    with store.connect() as conn:
        ids = set(conn.execute(text("SELECT id FROM request")).scalars())
    assert ids == {f"child-{i}" for i in range(N)} | {f"parent-{i}" for i in range(N)}
    assert store.route_stats(T0)["chat"].requests == 2 * N
    assert store.counter(WRITTEN_COUNTER) == 2 * N
    store.close()
