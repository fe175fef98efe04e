"""The multiprocess directory: where it is, and what a dead process leaves in it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from prometheus_client.mmap_dict import MmapedDict, mmap_key

from axtui.config import parse_config
from axtui.gateway.metrics import MetricsExporter
from axtui.prometheus.files import MetricFiles, metrics_dir, open_dir
from axtui.prometheus.records import RecordMetrics
from tests.store.factory import attempt, record

from .exposition import samples, value

MEM = "sqlite:///:memory:"


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def _file(path, name: str, sample: str = "m_total", value: float = 1.0) -> None:
    f = MmapedDict(str(path / name))
    f.write_value(mmap_key(sample.removesuffix("_total"), sample, [], [], "h"), value, 0.0)
    f.close()


def test_an_exited_process_leaves_its_totals_in_the_archive_and_no_gauges(tmp_path):
    pid, other = _dead_pid(), _dead_pid()
    _file(tmp_path, f"gauge_livesum_{pid}.db", "g")
    _file(tmp_path, f"gauge_livemax_{pid}.db", "g")
    _file(tmp_path, f"counter_{pid}.db", value=2.0)
    _file(tmp_path, f"counter_{other}.db", value=3.0)
    _file(tmp_path, "counter_archive.db", value=10.0)  # from earlier restarts
    assert value(samples(tmp_path), "m_total") == 15
    open_dir(tmp_path)
    assert sorted(p.name for p in tmp_path.glob("*.db")) == ["counter_archive.db"]
    assert value(samples(tmp_path), "m_total") == 15


def test_histogram_buckets_fold_bucket_by_bucket(tmp_path):
    metrics = RecordMetrics(tmp_path)
    try:
        metrics.observe([record(attempts=[attempt("p/a", latency_ms=ms)])
                         for ms in (40.0, 800.0, 800.0)])
        before = samples(tmp_path)
    finally:
        metrics.close()
    open_dir(tmp_path, own_leftovers=True)  # as the next process with this pid would
    assert sorted(p.name for p in tmp_path.glob("*.db")) == ["counter_archive.db",
                                                             "histogram_archive.db"]
    assert samples(tmp_path) == before


def test_an_orderly_stop_removes_this_process_gauges(tmp_path):
    files = MetricFiles.acquire(tmp_path)
    files.value("gauge", "g", "g", (), (), "h", "livesum").set(3)
    files.value("counter", "c", "c_total", (), (), "h").inc(1)
    files.release(dead=True)
    assert [p.name for p in tmp_path.glob("*.db")] == [f"counter_{files.pid}.db"]


def test_the_directory_defaults_to_one_beside_an_sqlite_store(tmp_path):
    url = f"sqlite:///{tmp_path}/gw.db"
    assert metrics_dir(None, url, {}) == tmp_path / "gw.db.metrics"
    assert metrics_dir(None, url, {"PROMETHEUS_MULTIPROC_DIR": "/srv/m"}).as_posix() == "/srv/m"
    assert metrics_dir("/etc/x", url, {"PROMETHEUS_MULTIPROC_DIR": "/srv/m"}).as_posix() == (
        "/etc/x")
    pg = metrics_dir(None, "postgresql://u:secret@db/axtui", {})
    assert "secret" not in str(pg) and pg == metrics_dir(None, "postgresql://u:other@db/axtui",
                                                         {})


def _config(**metrics) -> object:
    return parse_config({
        "providers": {"p": {"protocol": "openai", "base_url": "http://127.0.0.1:9/v1"}},
        "deployments": [{"provider": "p", "model": "m"}],
        "routes": {"chat": {"candidates": ["p/m"]}},
        "metrics": metrics,
    }, "t.toml")


def test_a_token_variable_named_but_unset_refuses_to_serve_metrics():
    with pytest.raises(ValueError, match="metrics.token_env: AXTUI_T_UNSET is not set"):
        MetricsExporter.from_config(_config(token_env="AXTUI_T_UNSET"), MEM, {})
    exporter = MetricsExporter.from_config(_config(token_env="AXTUI_T"), MEM, {"AXTUI_T": "s"})
    assert exporter is not None and exporter.token == b"s"


def test_metrics_can_be_turned_off():
    assert MetricsExporter.from_config(_config(enabled=False), MEM, {}) is None


def test_gauges_stay_while_another_user_in_the_process_still_writes(tmp_path):
    first, second = MetricFiles.acquire(tmp_path), MetricFiles.acquire(tmp_path)
    assert first is second
    first.value("gauge", "g", "g", (), (), "h", "livesum").set(3)
    first.release(dead=True)
    assert value(samples(tmp_path), "g") == 3
    second.release()
    assert value(samples(tmp_path), "g") == 0


def test_a_metrics_directory_that_cannot_be_made_is_one_clear_error(tmp_path):
    (tmp_path / "a-file").write_text("")
    with pytest.raises(ValueError, match=r"^metrics.dir: cannot create .*/a-file/m: Not a dir"):
        MetricsExporter.from_config(_config(dir=str(tmp_path / "a-file" / "m")), MEM, {})


def test_an_exited_child_not_yet_reaped_counts_as_gone(tmp_path):
    zombie = subprocess.Popen([sys.executable, "-c", "pass"])
    stat = Path(f"/proc/{zombie.pid}/stat")
    while stat.read_text().rsplit(")", 1)[1].split()[0] != "Z":
        os.sched_yield()  # until it has exited (we have not reaped it)
    _file(tmp_path, f"counter_{zombie.pid}.db")
    open_dir(tmp_path)
    assert [p.name for p in tmp_path.glob("*.db")] == ["counter_archive.db"]
    zombie.wait()
