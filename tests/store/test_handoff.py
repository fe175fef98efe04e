"""The handoff ring: lines survive the process that wrote them, come back whole and in order
across the wrap, a full ring refuses, and a dead ring is replayed once by the next start."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from axtui.store import open_store
from axtui.store.handoff import RingError, RingReader, RingWriter, dead_rings, handoff_dir
from axtui.store.ingest import WRITTEN_COUNTER, record_json_line
from axtui.store.process_recorder import ProcessRecorder
from tests.store.factory import record


def wait_for(predicate, timeout: float = 20.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.01)
    return predicate()


def test_lines_come_back_whole_and_in_order_across_many_wraps(tmp_path):
    writer = RingWriter(tmp_path, capacity=4096)
    reader = RingReader(writer.path)
    sent, got = [], []
    for i in range(2000):
        line = b'{"id":"r%d","pad":"%s"}\n' % (i, b"x" * (i * 7 % 300))
        assert writer.append(line)
        sent.append(line.decode()[:-1])
        if i % 5 == 4:  # the reader keeps up, as the child does
            for lines, end in reader.lines():
                got += lines
                reader.commit(end)
    for lines, _ in reader.lines():
        got += lines
    assert got == sent
    assert writer.head > 80 * 4096  # it went round many times


def test_a_full_ring_refuses_until_the_reader_commits(tmp_path):
    writer = RingWriter(tmp_path, capacity=4096)
    reader = RingReader(writer.path)
    line = b"y" * 999 + b"\n"
    assert [writer.append(line) for _ in range(5)] == [True] * 4 + [False]
    lines, end = reader.take()
    assert len(lines) == 4 and writer.append(line) is False  # read is not committed
    reader.commit(end)
    assert writer.append(line) is True


def test_take_cuts_after_a_whole_line(tmp_path):
    writer = RingWriter(tmp_path, capacity=1 << 16)
    reader = RingReader(writer.path)
    for i in range(100):
        writer.append(b"line-%03d\n" % i)
    chunks = []
    while True:
        lines, _ = reader.take(max_bytes=50)
        if not lines:
            break
        chunks.append(lines)
    assert all(len(c) == 5 for c in chunks)  # 9-byte lines, 50 bytes a chunk
    assert [x for c in chunks for x in c] == [f"line-{i:03d}" for i in range(100)]


def test_a_ring_is_dead_only_when_nobody_holds_it(tmp_path):
    writer = RingWriter(tmp_path)
    writer.append(b'{"id":"a"}\n')
    assert list(dead_rings(tmp_path)) == []
    with pytest.raises(RingError, match="in use"):
        RingReader(writer.path, exclusive=True)
    writer.close()
    [ring] = list(dead_rings(tmp_path))
    assert [x for chunk, _ in ring.lines() for x in chunk] == ['{"id":"a"}']
    assert list(dead_rings(tmp_path)) == []  # held by the one recovering it
    ring.remove()
    assert list(tmp_path.glob("*.ring")) == []


def test_the_ring_lives_beside_an_sqlite_file_else_per_url_in_tmp(tmp_path):
    assert handoff_dir(f"sqlite:///{tmp_path}/a.db") == tmp_path / "a.db.handoff"
    other = handoff_dir("postgresql://u:secret@db/axtui")
    assert other.name.startswith("axtui-handoff-") and "secret" not in str(other)


def test_a_dead_ring_is_replayed_once_skipping_what_the_store_has(tmp_path):
    """A crash between the child's commit and its moving the mark: the store has the first
    records, the ring still holds them too. The next start writes each record once."""
    url = f"sqlite:///{tmp_path}/s.db"
    records = [record(id=f"r-{i}") for i in range(30)]
    store = open_store(url)
    store.write_records(records[:12])  # committed, mark not moved
    writer = RingWriter(handoff_dir(url))
    for r in records:
        writer.append(record_json_line(r))
    writer.set_dropped(2)  # the dead process had refused two: still counted
    writer.close()  # as the process's death would: the lock goes, the file stays

    with ProcessRecorder(url, flush_interval_s=3600) as recorder:
        assert recorder.flush(timeout=20)
        recovery = recorder.handoff_stats().recovery
    assert (recovery.rings, recovery.lines, recovery.written, recovery.duplicates) == (
        1, 30, 18, 12)
    assert [store.get_record(r.id) for r in records] == records
    assert store.counter(WRITTEN_COUNTER) == 12 + 18
    assert store.counter("recorder.dropped") == 2
    assert not writer.path.exists()
    store.close()


PARENT = """
import sys, time
from axtui.store.process_recorder import ProcessRecorder
from tests.store.factory import record
recorder = ProcessRecorder(sys.argv[1], flush_interval_s=3600)
assert recorder.ready(20)
for i in range(int(sys.argv[2])):
    recorder.submit(record(id=f"k-{i}"))
print(recorder.pid, flush=True)
time.sleep(600)
"""


@pytest.mark.parametrize("whole_group", [False, True], ids=["parent", "parent-and-child"])
def test_every_submitted_record_is_stored_after_kill_9(tmp_path, whole_group):
    """kill -9 of the process that submitted (its child drains the ring, then exits), or
    of both (the next start replays the ring): every record is stored, once."""
    url = f"sqlite:///{tmp_path}/s.db"
    n = 3000
    proc = subprocess.Popen([sys.executable, "-c", PARENT, url, str(n)], stdout=subprocess.PIPE,
                            text=True, start_new_session=True,
                            env={**os.environ, "PYTHONPATH": os.getcwd()})
    try:
        child = int(proc.stdout.readline())
        if whole_group:
            os.killpg(proc.pid, signal.SIGKILL)
        else:
            os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
    rings = handoff_dir(url)
    if whole_group:
        assert wait_for(lambda: not _alive(child))
        assert len(list(rings.glob("*.ring"))) == 1  # left for the next start
        ProcessRecorder(url).close()
    assert wait_for(lambda: not list(rings.glob("*.ring")))  # drained, then removed
    store = open_store(url)
    assert store.counter(WRITTEN_COUNTER) == n
    assert all(store.get_record(f"k-{i}") for i in (0, n // 2, n - 1))
    store.close()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}").exists() and "zombie" not in _state(pid)


def _state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/status").read_text().lower()
    except OSError:
        return "zombie"


def test_serve_refuses_in_one_line_a_handoff_dir_it_cannot_use(tmp_path):
    (tmp_path / "blocker").write_text("a file where the directory should be")
    cfg = tmp_path / "axtui.toml"
    cfg.write_text(f"""
[store]
url = "sqlite:///{tmp_path}/s.db"
handoff_dir = "{tmp_path}/blocker/rings"
[providers.sim]
protocol = "sim"
[providers.sim.sim]
latency_p50_ms = 2
latency_p95_ms = 5
[[deployments]]
provider = "sim"
model = "fast"
[routes.chat]
candidates = ["sim/fast"]
""")
    done = subprocess.run([sys.executable, "-m", "axtui.cli.main", "serve", "--config", str(cfg),
                           "--listen", "127.0.0.1:0"], capture_output=True, text=True,
                          timeout=60, env={**os.environ, "PYTHONPATH": os.getcwd()})
    assert done.returncode == 2
    assert done.stderr == f"error: store.handoff_dir {tmp_path}/blocker/rings: Not a directory\n"


def test_a_file_that_is_not_a_ring_is_left_and_named_and_stale_halves_are_tidied(tmp_path,
                                                                               caplog):
    (tmp_path / "junk.ring").write_bytes(b"not a ring at all")
    stale = tmp_path / ".123-abcd.tmp"
    stale.write_bytes(b"")
    os.utime(stale, (time.time() - 3600, time.time() - 3600))
    fresh = tmp_path / ".456-ef01.tmp"  # being made right now by another start
    fresh.write_bytes(b"")
    assert list(dead_rings(tmp_path)) == []
    assert (tmp_path / "junk.ring").exists()
    assert "junk.ring: not a ring" in caplog.text
    assert not stale.exists() and fresh.exists()
