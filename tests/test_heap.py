"""The garbage collector's settings around a batch job (axtui/heap.py)."""

import gc
import subprocess
import sys

import pytest

from axtui.heap import parked


def test_parked_keeps_what_exists_out_of_collections_only_while_the_job_runs():
    gc.unfreeze()  # as a fresh process starts (an earlier test may have parked for good)
    before_threshold = gc.get_threshold()
    with parked((50_000, 20, 20)):
        assert gc.get_freeze_count() > 0
        assert gc.get_threshold() == (50_000, 20, 20)
    assert gc.get_threshold() == before_threshold
    assert gc.get_freeze_count() == 0


def test_parked_leaves_a_heap_parked_for_good_parked():
    gc.freeze()
    try:
        with parked():
            pass
        assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()


def test_parked_undoes_itself_when_the_job_raises():
    gc.unfreeze()
    before = gc.get_threshold()
    with pytest.raises(RuntimeError), parked((40_000, 10, 10)):
        raise RuntimeError("the job failed")
    assert gc.get_threshold() == before
    assert gc.get_freeze_count() == 0


def test_the_axtui_script_exits_with_the_commands_code_after_parking_the_heap():
    # `python -m axtui.cli.main` is the script's main(): a bad command still says why in
    # one line and exits 2, and a good one prints and exits 0
    bad = subprocess.run([sys.executable, "-m", "axtui.cli.main", "replay", "no-such-trace",
                          "--json"], capture_output=True, text=True)
    assert bad.returncode == 2
    assert bad.stderr.startswith("error: ") and "Traceback" not in bad.stderr
    good = subprocess.run([sys.executable, "-m", "axtui.cli.main", "--help"],
                          capture_output=True, text=True)
    assert good.returncode == 0 and "replay" in good.stdout
