"""An installed (non-editable) axtui finds its bundled fixtures/ and themes/: they live at the
top of the repo and are mapped to axtui.fixtures and axtui.themes (setup.py)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    src = tmp_path_factory.mktemp("src")
    for name in ("pyproject.toml", "setup.py", "README.md", "LICENSE"):
        if (REPO / name).exists():
            shutil.copy(REPO / name, src / name)
    for folder in ("axtui", "fixtures", "themes"):
        shutil.copytree(REPO / folder, src / folder,
                        ignore=shutil.ignore_patterns("__pycache__"))
    out = tmp_path_factory.mktemp("wheel")
    done = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w",
                           str(out), str(src)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    [whl] = out.glob("axtui-*.whl")
    return whl


def test_the_wheel_holds_the_demo_config_and_the_themes(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    assert "axtui/fixtures/demo.toml" in names
    assert "axtui/fixtures/__init__.py" in names
    assert "axtui/fixtures/scenarios/one_provider_down.toml" in names  # axtui sim/drill
    assert "axtui/themes/__init__.py" in names
    shipped = {p.name for p in (REPO / "themes").iterdir() if p.suffix in (".toml", ".tcss")}
    assert {f"axtui/themes/{n}" for n in shipped} <= names
    assert not any(n.startswith(("fixtures/", "themes/")) for n in names)  # no top-level pkgs


def test_an_installed_axtui_loads_its_bundled_demo(wheel, tmp_path):
    target = tmp_path / "site"
    done = subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps",
                           "--target", str(target), str(wheel)],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    probe = ("import axtui.fixtures, axtui.themes\n"
             "from axtui.config import load_config\n"
             "cfg = load_config()\n"
             "print(axtui.fixtures.__file__)\n"
             "print(axtui.themes.__file__)\n"
             "print(len(cfg.routes))\n")
    env = {**os.environ, "PYTHONPATH": str(target)}
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                          cwd=tmp_path, env=env, timeout=60)
    assert done.returncode == 0, done.stderr
    fixtures, themes, routes = done.stdout.split()
    assert fixtures.startswith(str(target)) and themes.startswith(str(target))
    assert int(routes) > 0


def test_the_wheel_holds_the_bundled_traces(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    shipped = {p.name for p in (REPO / "fixtures" / "traces").glob("*.jsonl.gz")}
    assert {"normal-day.jsonl.gz", "provider-outage.jsonl.gz", "rate-limit-storm.jsonl.gz"} \
        <= shipped
    assert {f"axtui/fixtures/traces/{n}" for n in shipped} <= names


def test_an_installed_axtui_finds_its_bundled_traces_by_name(wheel, tmp_path):
    target = tmp_path / "site"
    done = subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps",
                           "--target", str(target), str(wheel)],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    probe = ("from axtui.traces.replay.run import bundled_traces, resolve_trace\n"
             "from axtui.traces.jsonl import read_header\n"
             "print(','.join(bundled_traces()))\n"
             "print(read_header(resolve_trace('provider-outage'))['scenario'])\n")
    env = {**os.environ, "PYTHONPATH": str(target)}
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                          cwd=tmp_path, env=env, timeout=60)
    assert done.returncode == 0, done.stderr
    names, scenario = done.stdout.split()
    assert names == "normal-day,provider-outage,rate-limit-storm"
    assert scenario == "provider-outage"
