"""The flag system is core: it imports neither the console nor the HTTP gateway."""

from __future__ import annotations

import subprocess
import sys

PROBE = """
import importlib, sys
for name in ["axtui.flags.ops", "axtui.flags.gates", "axtui.flags.guardrails",
             "axtui.flags.report", "axtui.flags.evaluate", "axtui.cli.flags"]:
    importlib.import_module(name)
print(",".join(sorted(m for m in sys.modules
                      if m.split(".")[0] == "textual" or m.startswith("axtui.gateway"))))
"""


def test_flags_import_no_console_and_no_gateway():
    done = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == ""
