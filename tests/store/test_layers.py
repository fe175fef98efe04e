"""The store and the flags sit below traces/: importing them never pulls traces/ in (replay
will live there and import the store, which would make a cycle)."""

from __future__ import annotations

import subprocess
import sys

BELOW_TRACES = ["axtui.store.db", "axtui.store.recorder", "axtui.store.process_recorder",
                "axtui.store.metrics", "axtui.store.retention", "axtui.flags.gates"]
PROBE = f"""
import importlib, sys
for name in {BELOW_TRACES!r}:
    importlib.import_module(name)
print(",".join(sorted(m for m in sys.modules if m.startswith("axtui.traces"))))
"""


def test_the_store_and_flags_never_import_traces():
    done = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == ""


def test_the_probe_sees_traces_when_something_imports_it():
    probe = PROBE.replace("for name in", "import axtui.traces.summary\nfor name in")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                          timeout=60)
    assert "axtui.traces.summary" in done.stdout
