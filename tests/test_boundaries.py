"""The core runs without the console: importing the engine, adapters, store, traces and
the headless CLI must not pull in textual (the harlequin rule)."""

from __future__ import annotations

import subprocess
import sys

HEADLESS = [
    "axtui.engine.engine",
    "axtui.providers",
    "axtui.providers.openai",
    "axtui.providers.anthropic",
    "axtui.providers.gemini",
    "axtui.providers.cohere",
    "axtui.providers.sim",
    "axtui.store.db",
    "axtui.store.recorder",
    "axtui.traces.jsonl",
    "axtui.cli.main",
]

PROBE = f"""
import importlib, sys
for name in {HEADLESS!r}:
    importlib.import_module(name)
ui = sorted(m for m in sys.modules if m == "textual" or m.startswith("textual."))
print(",".join(ui))
"""


def test_the_headless_core_never_imports_textual():
    done = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == ""


def test_the_probe_would_see_textual_if_it_were_imported():
    # guards the test above against passing vacuously (e.g. a broken probe)
    probe = PROBE.replace("for name in", "import json\nsys.modules['textual'] = json\nfor name in")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                          timeout=60)
    assert done.stdout.strip() == "textual"
