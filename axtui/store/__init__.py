"""The store: metrics (raw records and rollups), events and the control plane."""

from axtui.store.db import DEFAULT_URL, Store, open_store
from axtui.store.recorder import Recorder, RecorderStats

__all__ = ["DEFAULT_URL", "Recorder", "RecorderStats", "Store", "open_store"]
