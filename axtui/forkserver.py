"""Start the recorder's forkserver early, so its imports overlap the caller's own.

The process recorder's child forks from a forkserver that has imported the store (~0.5 s).
Started at the top of a command, that import runs on the other core while the command
imports the engine; started by the recorder itself, the host's start waits for it. This
module imports nothing heavy, so calling it first costs ~nothing.
"""

from __future__ import annotations

import multiprocessing
from multiprocessing import forkserver

RECORDER_MODULE = "axtui.store.process_recorder"  # what the recorder's children need


def prestart() -> bool:
    """Start the forkserver (preloading the recorder) if this platform has one; True if it
    is running. The recorder's own start then finds it up and forks at once."""
    if "forkserver" not in multiprocessing.get_all_start_methods():
        return False
    multiprocessing.get_context("forkserver").set_forkserver_preload([RECORDER_MODULE])
    forkserver.ensure_running()
    return True
