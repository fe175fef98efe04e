"""`axtui.forkserver.prestart()` runs first in `serve` and `demo --live`, so it must not
import the store itself (that import is what the forkserver does on the other core)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

PROBE = """
import sys
from axtui.forkserver import prestart
print(prestart(), "sqlalchemy" in sys.modules, "axtui.store.db" in sys.modules)
"""


def test_prestart_starts_the_forkserver_without_importing_the_store():
    done = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True,
                          timeout=60, env={**os.environ, "PYTHONPATH": str(REPO)})
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["True", "False", "False"]
