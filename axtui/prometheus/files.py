"""The multiprocess directory: prometheus-client's per-process mmap files, written by us.

Every process that counts (a gateway, a recorder child) writes its own `counter_<pid>.db`,
`histogram_<pid>.db` and `gauge_<mode>_<pid>.db` in prometheus-client's format (its own
`MmapedDict` and `mmap_key`); `/metrics` reads them all with its `MultiProcessCollector`,
so processes sharing the directory add up. We write the files ourselves rather than through
prometheus-client's metric classes because those pick one directory per interpreter, from
the environment, at import time: the recorder child (forked from a server started long
before) and tests running several gateways in one process each need their own.

A process's live gauges leave on its orderly stop (`mark_process_dead`); whatever an exited
process left (gauges after a crash, counters and histograms always) is tidied by the next
process to open the directory: its totals are folded into archive files, so they never go
backwards and the directory holds a few files per running process, not one per restart.
Pids are this host's: one directory serves the processes of one host.
"""

from __future__ import annotations

import contextlib
import glob
import hashlib
import logging
import os
import tempfile
import threading
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

from prometheus_client.mmap_dict import MmapedDict, mmap_key
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead

try:
    import fcntl
except ImportError:  # Windows
    fcntl = None  # type: ignore[assignment]

log = logging.getLogger(__name__)

ENV_DIR = "PROMETHEUS_MULTIPROC_DIR"
ARCHIVE = "archive"  # counter_archive.db, histogram_archive.db: exited processes' totals


def metrics_dir(configured: str | None, store_url: str,
                environ: Mapping[str, str] | None = None) -> Path:
    """Where this store's processes share their metric files: the configured directory,
    else $PROMETHEUS_MULTIPROC_DIR, else `<store file>.metrics/` beside an SQLite file,
    else one per store URL under the temp directory (in-memory stores: per process)."""
    env = os.environ if environ is None else environ
    if configured:
        return Path(configured).expanduser()
    if env.get(ENV_DIR):
        return Path(env[ENV_DIR])
    from sqlalchemy.engine import make_url

    url = make_url(store_url)
    db = url.database
    if url.get_backend_name() == "sqlite" and db and db != ":memory:" and not db.startswith(
            "file:"):
        return Path(db).expanduser().resolve().with_name(Path(db).name + ".metrics")
    if url.get_backend_name() == "sqlite":  # in memory: nothing to share with
        return Path(tempfile.gettempdir()) / f"axtui-metrics-mem-{os.getpid()}"
    digest = hashlib.sha256(url.render_as_string(hide_password=True).encode()).hexdigest()
    return Path(tempfile.gettempdir()) / f"axtui-metrics-{digest[:16]}"


@contextlib.contextmanager
def dir_lock(path: str | Path, *, exclusive: bool) -> Iterator[None]:
    """Folding exited processes' files (exclusive) and reading the directory for a scrape
    (shared) exclude each other: a scrape never sees a file twice, or one vanish."""
    if fcntl is None:  # no flock (Windows): folding and scraping may overlap
        yield
        return
    with open(os.path.join(path, ".lock"), "a+b") as f:
        fcntl.flock(f.fileno(), fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
        try:
            yield
        finally:
            fcntl.flock(f.fileno(), fcntl.LOCK_UN)


def open_dir(path: str | Path, *, own_leftovers: bool = False) -> Path:
    """Create the directory and tidy what exited processes left (see `tidy`)."""
    p = Path(path)
    p.mkdir(parents=True, exist_ok=True)
    with dir_lock(p, exclusive=True):
        tidy(p, also=os.getpid() if own_leftovers else None)
    return p


def tidy(path: Path, also: int | None = None) -> list[int]:
    """For every pid that no longer runs on this host (and `also`: this pid's files from an
    earlier process or user that has let go of them): remove its live gauges, and fold its
    counters and histograms into `counter_archive.db` / `histogram_archive.db`, so totals
    never go backwards and the directory does not grow by a file per restart. The pids.
    Call under the exclusive `dir_lock`."""
    gone = {pid for pid in _pids(path) if not _alive(pid)}
    if also is not None and also in _pids(path):
        gone.add(also)
    for pid in gone:
        mark_process_dead(pid, str(path))
    for typ in ("counter", "histogram"):
        files = [f for pid in sorted(gone) if (f := path / f"{typ}_{pid}.db").exists()]
        if files:
            _fold(path / f"{typ}_{ARCHIVE}.db", files)
    return sorted(gone)


def _pids(path: Path) -> set[int]:
    out = set()
    for f in glob.glob(os.path.join(path, "*_*.db")):
        pid = f.rsplit("_", 1)[1][:-3]
        if pid.isdigit():
            out.add(int(pid))
    return out


def _fold(archive: Path, files: list[Path]) -> None:
    """Add the files' values into `archive` (bucket by bucket: not accumulated), then
    delete them."""
    merged = MultiProcessCollector.merge([str(f) for f in files], accumulate=False)
    out = MmapedDict(str(archive))
    try:
        for metric in merged:
            for sample in metric.samples:
                names = sorted(sample.labels)
                key = mmap_key(metric.name, sample.name, names,
                               [sample.labels[n] for n in names], metric.documentation)
                out.write_value(key, out.read_value(key)[0] + sample.value, 0.0)
    finally:
        out.close()
    for f in files:
        f.unlink()


def _alive(pid: int) -> bool:
    if os.name == "nt":  # os.kill(pid, 0) there is CTRL_C_EVENT: never tidy on Windows
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive
        return True
    try:  # an exited child its parent has not reaped yet is still signalable
        with open(f"/proc/{pid}/stat", "rb") as f:
            return f.read().rsplit(b")", 1)[1].split()[0] != b"Z"
    except (OSError, IndexError):  # no /proc here: trust the signal
        return True


class Value:
    """One sample's float in this process's file (a counter's `_total`, a bucket, a gauge)."""

    __slots__ = ("_files", "_file", "_key", "value", "_nano")

    def __init__(self, files: MetricFiles, file: MmapedDict, key: str) -> None:
        self._files = files
        self._file = file
        self._key = key
        self.value = file.read_value(key)[0]  # a reused pid's file: carry on from it
        self._nano: int | None = None

    def inc(self, amount: float) -> None:
        with self._files.lock:
            self.value += amount
            self._file.write_value(self._key, self.value, 0.0)

    def set(self, value: float) -> None:
        with self._files.lock:
            self.value = value
            self._file.write_value(self._key, value, 0.0)

    def add_nano(self, nano: int) -> None:
        """Add integer nano-units (nano-dollars) to a value kept in units: the exact sum is
        kept as an int and each write is its one rounding, so errors never accumulate."""
        with self._files.lock:
            if self._nano is None:
                self._nano = round(self.value * 1e9)
            self._nano += nano
            self.value = self._nano / 1e9
            self._file.write_value(self._key, self.value, 0.0)


class MetricFiles:
    """This process's files in one directory. One instance per (directory, pid), shared by
    every writer in the process (two `MmapedDict`s on one file would overwrite each other):
    get it with `acquire`, give it back with `release`."""

    _open: dict[tuple[str, int], MetricFiles] = {}
    _open_lock = threading.Lock()

    def __init__(self, path: Path) -> None:
        self.path = path
        self.pid = os.getpid()
        self.lock = threading.Lock()
        self._files: dict[str, MmapedDict] = {}
        self._values: dict[tuple[str, str], Value] = {}  # shared: writers in a process add up
        self._users = 0
        self._stopping = False

    @classmethod
    def acquire(cls, path: str | Path) -> MetricFiles:
        p = Path(path)
        p.mkdir(parents=True, exist_ok=True)
        key = (str(p.resolve()), os.getpid())
        with cls._open_lock:
            files = cls._open.get(key)
            if files is None:
                # nobody here holds this pid's files: any there are an earlier process's
                open_dir(p, own_leftovers=True)
                files = cls._open[key] = cls(p)
            files._users += 1
            return files

    def release(self, *, dead: bool = False) -> None:
        """One user is done; the last one closes the files. `dead`: this process is
        stopping, so once the last user lets go its live gauges leave the directory
        (counters stay)."""
        with self._open_lock:
            self._users -= 1
            self._stopping |= dead
            last = self._users <= 0
            if last:
                self._open.pop((str(self.path.resolve()), self.pid), None)
        if not last:
            return
        with self.lock:
            for f in self._files.values():
                f.close()
            self._files.clear()
            self._values.clear()
        if self._stopping:
            mark_process_dead(self.pid, str(self.path))

    def value(self, typ: str, metric: str, sample: str, labelnames: Sequence[str],
              labelvalues: Sequence[str], help_text: str, mode: str = "") -> Value:
        prefix = f"{typ}_{mode}" if typ == "gauge" else typ
        key = mmap_key(metric, sample, list(labelnames), [str(v) for v in labelvalues],
                       help_text)
        with self.lock:
            v = self._values.get((prefix, key))
            if v is None:
                file = self._files.get(prefix)
                if file is None:
                    file = self._files[prefix] = MmapedDict(
                        os.path.join(self.path, f"{prefix}_{self.pid}.db"))
                v = self._values[(prefix, key)] = Value(self, file, key)
            return v
