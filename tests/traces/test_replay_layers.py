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
