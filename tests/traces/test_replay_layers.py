"""Replay sits above the engine, the store and the flags: importing any of them (or the
runtime host) never pulls axtui.traces.replay in."""

from __future__ import annotations

import subprocess
import sys

BELOW_REPLAY = ["axtui.engine.engine", "axtui.engine.health", "axtui.store.db",
                "axtui.store.recorder", "axtui.store.ingest", "axtui.flags.gates",
                "axtui.flags.ops", "axtui.alerts.evaluator", "axtui.runtime.host",
                "axtui.providers.sim"]
PROBE = f"""
import importlib, sys
for name in {BELOW_REPLAY!r}:
    importlib.import_module(name)
print(",".join(sorted(m for m in sys.modules if m.startswith("axtui.traces.replay"))))
"""


def test_the_engine_store_flags_and_host_never_import_replay():
    done = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == ""


def test_the_probe_sees_replay_when_something_imports_it():
    probe = PROBE.replace("for name in", "import axtui.traces.replay.run\nfor name in")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                          timeout=60)
    assert "axtui.traces.replay.run" in done.stdout


FAITHFUL_PROBE = """
import sys
from axtui.cli.main import run
sys.argv = ["axtui", "replay", sys.argv[1], "--json"]
try:
    run()
except SystemExit:
    pass
print("imported: " + ",".join(sorted(
    m for m in ("httpx", "axtui.engine.catalog", "axtui.providers", "axtui.engine.engine")
    if m in sys.modules)), file=sys.stderr)
"""


def test_a_faithful_replay_never_imports_the_engine_or_the_http_stack(tmp_path):
    """Its start is most of a small replay's time: what only routing needs stays out."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    from tests.traces.replay_helpers import cut

    trace = cut("provider-outage", 50, tmp_path / "t.jsonl.gz")
    repo = Path(__file__).resolve().parents[2]
    done = subprocess.run([sys.executable, "-c", FAITHFUL_PROBE, str(trace)],
                          capture_output=True, text=True, timeout=120, cwd=tmp_path,
                          env={**os.environ, "PYTHONPATH": str(repo)})
    assert done.stderr.splitlines()[-1:] == ["imported: "]
