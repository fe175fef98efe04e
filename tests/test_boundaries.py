"""The core runs without the console: importing any module outside axtui.tui, and the
headless CLI, must not pull in textual (the harlequin rule), checked two ways: a subprocess
that imports them all and looks at sys.modules, and import-linter's contracts."""

from __future__ import annotations

import os
import pkgutil
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import axtui

REPO = Path(__file__).resolve().parent.parent


def core_modules() -> list[str]:
    """Every module of axtui outside axtui.tui (new packages are covered as they appear)."""
    names = ["axtui"]
    for m in pkgutil.walk_packages(axtui.__path__, "axtui."):
        if m.name == "axtui.tui" or m.name.startswith("axtui.tui."):
            continue
        if m.name.startswith("axtui.store.migrations."):  # run only inside Alembic's context
            continue
        names.append(m.name)
    return sorted(names)


PROBE = """
import importlib, sys
for name in sys.argv[1:]:
    importlib.import_module(name)
import axtui.cli.main
ui = sorted(m for m in sys.modules if m in ("textual", "textual_plotext", "textual_serve")
            or m.startswith(("textual.", "textual_plotext.", "textual_serve.")))
print(",".join(ui))
"""


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(REPO)}


def test_the_core_and_the_headless_cli_never_import_textual():
    modules = core_modules()
    assert "axtui.engine.engine" in modules and "axtui.cli.main" in modules
    assert "axtui.snapshot.build" in modules and "axtui.cli.console" in modules
    done = subprocess.run([sys.executable, "-c", PROBE, *modules], capture_output=True,
                          text=True, timeout=120, env=_env())
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == ""


def test_the_probe_would_see_textual_if_it_were_imported():
    # guards the test above against passing vacuously (e.g. a broken probe)
    done = subprocess.run([sys.executable, "-c", PROBE, "axtui.tui.app"], capture_output=True,
                          text=True, timeout=120, env=_env())
    assert done.returncode == 0, done.stderr
    assert "textual" in done.stdout.split(",")


@pytest.mark.skipif(shutil.which("lint-imports") is None,
                    reason="import-linter is in the dev extra: pip install -e '.[dev]'")
def test_import_linter_contracts_are_kept():
    done = subprocess.run(["lint-imports", "--no-cache"], capture_output=True, text=True,
                          timeout=300, cwd=REPO, env=_env())
    assert done.returncode == 0, done.stdout + done.stderr
    assert "0 broken" in done.stdout
