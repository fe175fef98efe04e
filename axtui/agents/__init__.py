"""Long-running agents over the engine: complexity-routed calls, exact budgets, runtime
limits, checkpoints in the store and resume after a crash (see agent.py)."""

from axtui.agents.agent import Agent, AgentStopped
from axtui.agents.limits import Limits, level_of, usd_to_nano
from axtui.agents.resume import AgentError, Resumed, process_alive

__all__ = ["Agent", "AgentError", "AgentStopped", "Limits", "Resumed", "level_of",
           "process_alive", "usd_to_nano"]
