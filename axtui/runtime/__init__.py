"""The runtime host every face stands on (see host.py)."""

from axtui.runtime.events import EngineEvent, EventWriter, EventWriterStats
from axtui.runtime.host import ControlStats, Face, HostStats, RuntimeHost
from axtui.runtime.jobs import JobStats, PeriodicJob

__all__ = ["ControlStats", "EngineEvent", "EventWriter", "EventWriterStats", "Face",
           "HostStats", "JobStats", "PeriodicJob", "RuntimeHost"]
