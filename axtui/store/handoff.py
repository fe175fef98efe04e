"""The handoff ring: records leave the serving process before their answers do.

The process recorder's parent appends each record's JSON line to a file it shares, mmap'd,
with its recorder child. A line in the mapping is in the kernel's page cache the moment
the copy ends, so it outlives the process that wrote it: `kill -9` of the gateway loses
nothing it has answered, as the answer is sent after `submit()` returns. The child drains
the ring into the store and only then moves the ring's `committed` mark past those lines.
If the child dies too (the whole process group killed), the next recorder to start on the
same store replays each dead ring from its `committed` mark, skipping ids the store already
has (a crash between a commit and the mark's move), so every record is written once.

A ring is "dead" when nobody holds its lock: the parent and the child each hold a shared
flock while they live; recovery takes it exclusively, without waiting.

File layout: a 4 KiB header, then `capacity` bytes of data addressed by logical positions
that only grow (the byte at position p lives at `DATA + p % capacity`; a line may wrap).
The parent owns `head` (the end of its last whole line) and `dropped` (records it refused);
the child owns `committed` and `dropped_reported`, on another cache line. The parent moves
`head` after the line's bytes: a reader never reads past it. (That relies on the CPU
keeping stores in order, as x86-64 does; on a weaker order a reader could see a torn line,
which fails to parse and is counted, never stored wrong.)
"""

from __future__ import annotations

import errno
import hashlib
import logging
import mmap
import os
import struct
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

try:
    import fcntl
except ImportError:  # Windows: no flock, so no telling a dead ring from a live one
    fcntl = None  # type: ignore[assignment]

log = logging.getLogger(__name__)

MAGIC = b"AXTUIHR1"
DATA = 4096  # the header's page
DEFAULT_CAPACITY = 64 << 20
SUFFIX = ".ring"
STALE_TMP_S = 60.0  # a ring still unnamed this long after it was begun was cut short
_U64 = struct.Struct("=Q")  # native, as the memoryview the writer stores through
_HEADER = struct.Struct("=8sQ")  # magic, capacity
_HEAD, _DROPPED = 16, 24  # the parent's fields
_COMMITTED, _DROPPED_REPORTED = 64, 72  # the child's, on their own cache line


class RingError(OSError):
    """The ring cannot be created, opened or locked (the message says which and why)."""


class RingBusy(RingError):
    """Another process holds the ring (it lives), or it was just removed."""


def handoff_dir(store_url: str) -> Path:
    """Where a store's rings live: `<store file>.handoff/` beside an SQLite file, else one
    directory per store URL under the temp directory."""
    from sqlalchemy.engine import make_url

    url = make_url(store_url)
    db = url.database
    if url.get_backend_name() == "sqlite" and db and db != ":memory:" and not db.startswith(
            "file:"):
        path = Path(db).expanduser().resolve()
        return path.with_name(path.name + ".handoff")
    digest = hashlib.sha256(url.render_as_string(hide_password=True).encode()).hexdigest()
    return Path(tempfile.gettempdir()) / f"axtui-handoff-{digest[:16]}"


def check_dir(configured: str | None, store_url: str) -> Path:
    """The rings' directory for a store, made if missing; RingError (one line) if it cannot
    be made or written: for a CLI to say before it serves."""
    directory = Path(configured).expanduser() if configured else handoff_dir(store_url)
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise RingError(f"store.handoff_dir {directory}: {err.strerror or err}") from None
    if not os.access(directory, os.W_OK | os.X_OK):
        raise RingError(f"store.handoff_dir {directory}: not writable")
    return directory


class _Mapped:
    """An open, mapped ring file."""

    def __init__(self, path: Path, fd: int) -> None:
        self.path = path
        self.fd = fd
        try:
            self.mm = mmap.mmap(fd, 0)
            magic, self.capacity = _HEADER.unpack_from(self.mm, 0)
        except (OSError, ValueError, struct.error) as err:
            os.close(fd)
            raise RingError(f"handoff ring {path}: cannot map it: {err}") from None
        if magic != MAGIC or len(self.mm) != DATA + self.capacity:
            self.close()
            raise RingError(f"handoff ring {path}: not a ring (bad header or size)")

    @property
    def closed(self) -> bool:
        return self.fd < 0

    def get(self, offset: int) -> int:
        return _U64.unpack_from(self.mm, offset)[0]

    def put(self, offset: int, value: int) -> None:
        _U64.pack_into(self.mm, offset, value)

    def read(self, start: int, end: int) -> bytes:
        """The bytes at logical positions [start, end), unwrapped."""
        cap = self.capacity
        a, b = DATA + start % cap, DATA + (end - 1) % cap + 1
        if a < b or start == end:
            return self.mm[a : a + end - start]
        return self.mm[a : DATA + cap] + self.mm[DATA:b]

    def close(self) -> None:
        mm = getattr(self, "mm", None)
        if mm is not None:
            try:
                mm.close()
            except BufferError:  # a view still alive: the mapping goes with the process
                log.warning("handoff ring %s: mapping still in use at close", self.path)
        if self.fd >= 0:
            os.close(self.fd)  # releases the flock
            self.fd = -1


def _populate(mm: mmap.mmap) -> None:
    """Fault the ring's pages in, writable, now rather than one by one under requests."""
    advice = getattr(mmap, "MADV_POPULATE_WRITE", 23 if sys.platform == "linux" else None)
    if advice is None or not hasattr(mm, "madvise"):
        return
    try:
        mm.madvise(advice)
    except OSError as err:  # an older kernel (< 5.14): pages fault in as they are written
        log.debug("handoff ring: no MADV_POPULATE_WRITE: %s", err)


def _reserve(fd: int, size: int) -> None:
    try:
        os.posix_fallocate(fd, 0, size)
    except (AttributeError, OSError) as err:  # no fallocate here: a sparse file, then
        if isinstance(err, OSError) and err.errno not in (errno.EOPNOTSUPP, errno.EINVAL):
            raise  # ENOSPC and the like: said at start
        os.ftruncate(fd, size)


def _lock(fd: int, kind: int) -> bool:
    if fcntl is None:
        return True
    try:
        fcntl.flock(fd, kind | fcntl.LOCK_NB)
        return True
    except BlockingIOError:
        return False


class RingWriter:
    """The serving process's end: `append()` is the hot path (no system call)."""

    def __init__(self, directory: str | Path, capacity: int = DEFAULT_CAPACITY) -> None:
        if capacity < 4096:
            raise ValueError("handoff ring: capacity must be at least 4096 bytes")
        directory = Path(directory)
        name = f"{os.getpid()}-{os.urandom(4).hex()}"
        tmp = directory / f".{name}.tmp"
        self.path = directory / (name + SUFFIX)
        try:
            directory.mkdir(parents=True, exist_ok=True)
            fd = os.open(tmp, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
        except OSError as err:
            raise RingError(f"handoff ring in {directory}: {err.strerror or err}") from None
        try:
            # blocks reserved now: a full disk is an error here, not a SIGBUS mid-request
            _reserve(fd, DATA + capacity)
            os.pwrite(fd, _HEADER.pack(MAGIC, capacity), 0)
            _lock(fd, fcntl.LOCK_SH if fcntl is not None else 0)
            # named only once whole and locked: recovery never sees a half-made ring
            os.rename(tmp, self.path)
        except OSError as err:
            os.close(fd)
            tmp.unlink(missing_ok=True)
            raise RingError(f"handoff ring {self.path}: {err.strerror or err}") from None
        self._ring = _Mapped(self.path, fd)
        self.capacity = capacity
        self._mm = self._ring.mm
        _populate(self._mm)
        # the head as a machine word: one store, cheaper than struct.pack_into (released
        # before the mapping closes)
        self._words: memoryview | None = memoryview(self._mm)[:DATA].cast("Q")
        self._head = 0
        self._committed = 0  # as last read: re-read only when the ring looks full
        self._lock = threading.Lock()  # appends from several threads stay whole lines
        self._sealed = False
        self.lines = 0  # lines appended

    @property
    def head(self) -> int:
        return self._head

    def append(self, line: bytes) -> bool:
        """Copy one line (ending in a newline) into the ring; False when it has no room."""
        n = len(line)
        with self._lock:
            if self._sealed:
                return False
            head = self._head
            cap = self.capacity
            if head + n - self._committed > cap:
                self._committed = self._ring.get(_COMMITTED)
                if head + n - self._committed > cap:
                    return False
            start = DATA + head % cap
            end = start + n
            if end <= DATA + cap:
                self._mm[start:end] = line
            else:  # wraps: the rest goes to the start of the data
                k = DATA + cap - start
                self._mm[start : DATA + cap] = line[:k]
                self._mm[DATA : DATA + n - k] = line[k:]
            head += n
            self._head = head
            self._words[_HEAD // 8] = head  # type: ignore[index]
            self.lines += 1
        return True

    def seal(self) -> int:
        """Refuse every later append (closing): the head is final. Returns it."""
        with self._lock:
            self._sealed = True
            return self._head

    def used(self) -> int:
        """Bytes appended that the store does not have yet."""
        return self._head - (self._ring.get(_COMMITTED) if not self._ring.closed else
                             self._committed)

    def set_dropped(self, n: int) -> None:
        """The parent's drops so far (refused or unserializable): the child counts them."""
        with self._lock:
            if not self._ring.closed:
                self._ring.put(_DROPPED, n)

    def committed(self) -> int:
        return self._ring.get(_COMMITTED)

    def close(self) -> None:
        """Unmap and unlock. The file stays: the child removes it once drained, else the
        next start on the store recovers it."""
        with self._lock:
            self._sealed = True
            if not self._ring.closed:
                self._committed = self._ring.get(_COMMITTED)
                if self._words is not None:
                    self._words.release()
                    self._words = None
                self._ring.close()


class RingReader:
    """The recorder's end (the child, or recovery): lines between `committed` and `head`."""

    def __init__(self, path: str | Path, *, exclusive: bool = False) -> None:
        path = Path(path)
        try:
            fd = os.open(path, os.O_RDWR)
        except OSError as err:
            raise RingError(f"handoff ring {path}: {err.strerror or err}") from None
        kind = 0 if fcntl is None else (fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
        try:
            locked = _lock(fd, kind)
            # the lock is on the file we opened: make sure it is still the one named so
            same = locked and os.fstat(fd).st_ino == os.stat(path).st_ino
        except OSError:
            same = False
        if not same:
            os.close(fd)
            raise RingBusy(f"handoff ring {path}: in use or removed")
        self._ring = _Mapped(path, fd)
        self.path = path
        self.capacity = self._ring.capacity
        self.position = self._ring.get(_COMMITTED)  # read up to here
        self._dropped_seen = self._ring.get(_DROPPED_REPORTED)

    def head(self) -> int:
        return self._ring.get(_HEAD)

    def take(self, max_bytes: int = 4 << 20, until: int | None = None) -> tuple[list[str], int]:
        """The next whole lines (about `max_bytes` of them), and the position after them."""
        head = self._ring.get(_HEAD) if until is None else until
        start = self.position
        if head <= start:
            return [], start
        end = min(head, start + max_bytes)
        data = self._ring.read(start, end)
        if end < head:  # cut after the last whole line
            cut = data.rfind(b"\n") + 1
            if cut == 0:  # one line longer than max_bytes: take it whole
                data = self._ring.read(start, head)
                cut = data.find(b"\n") + 1 or len(data)
            data = data[:cut]
        self.position = start + len(data)
        return data.decode("utf-8", "surrogateescape").split("\n")[:-1], self.position

    def lines(self) -> Iterator[tuple[list[str], int]]:
        """Every line up to the head as it is now, in chunks."""
        head = self._ring.get(_HEAD)
        while self.position < head:
            yield self.take(until=head)

    def new_drops(self) -> int:
        """The writer's drops not yet passed on (call `drops_reported()` once they are)."""
        return self._ring.get(_DROPPED) - self._dropped_seen

    def drops_reported(self, n: int) -> None:
        self._dropped_seen += n
        self._ring.put(_DROPPED_REPORTED, self._dropped_seen)

    def commit(self, position: int) -> None:
        """Everything before `position` is in the store (or counted as failed)."""
        self._ring.put(_COMMITTED, position)

    @property
    def committed(self) -> int:
        return self._ring.get(_COMMITTED)

    def remove(self) -> None:
        """Unlink the file (drained) and close it."""
        self.path.unlink(missing_ok=True)
        self.close()

    def close(self) -> None:
        self._ring.close()


def dead_rings(directory: str | Path, *, skip: Path | None = None) -> Iterator[RingReader]:
    """Rings in `directory` whose writer and reader are both gone, each locked for the
    caller (close or remove it). Rings in use are passed over."""
    directory = Path(directory)
    if fcntl is None or not directory.is_dir():
        return
    for path in sorted(directory.glob("*" + SUFFIX)):
        if skip is not None and path == skip:
            continue
        try:
            yield RingReader(path, exclusive=True)
        except RingBusy as err:
            log.debug("%s", err)  # its process lives, or another start just replayed it
        except RingError as err:  # not a ring: left where it is, and said each start
            log.warning("%s", err)
    now = time.time()
    for tmp in directory.glob(".*.tmp"):  # a ring whose making a crash cut short: empty
        try:
            if now - tmp.stat().st_mtime > STALE_TMP_S:
                tmp.unlink()
        except OSError as err:  # removed meanwhile, or not ours to remove
            log.debug("handoff ring %s: %s", tmp, err)
