"""The gateway is headless: serving never imports the console's UI toolkit."""

from __future__ import annotations

import subprocess
import sys

PROBE = """
import sys
import axtui.gateway.app, axtui.gateway.serve, axtui.cli.serve, axtui.cli.keys
print(",".join(sorted(m for m in sys.modules if m == "textual" or m.startswith("textual."))))
"""


def test_the_gateway_never_imports_textual():
    done = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == ""
