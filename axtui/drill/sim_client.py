"""The drill's handle on `axtui sim serve`: a child process hosting every upstream of the
scenario, its URLs for the gateway config, and its control endpoint (restart the scenario
clock, read call counts)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from axtui.drill import processes

# the path an SDK or adapter appends its endpoints to, per protocol
_API_ROOT = {"openai": "/v1", "anthropic": "", "gemini": "", "cohere": ""}


class SimClient:
    def __init__(self, child: processes.Child, scenario: Any) -> None:
        self.child = child
        self.scenario = scenario

    @classmethod
    def start(cls, scenario: Any, work: Path, *, seed: int) -> SimClient:
        child = processes.start(
            "axtui sim serve", ["sim", "serve", str(scenario.source), "--listen",
                                "127.0.0.1:0", "--seed", str(seed)],
            work / "sim.log", announce="axtui sim serve: ")
        sim = cls(child, scenario)
        processes.wait_ready(child, "/control/stats")
        return sim

    def upstream_urls(self) -> dict[str, str]:
        return {u.name: f"{self.child.base_url}/u/{u.name}{_API_ROOT[u.protocol]}"
                for u in self.scenario.upstreams}

    async def restart(self) -> float:
        """Restart the scenario clock; the wall time it restarted at."""
        import httpx

        async with httpx.AsyncClient(timeout=5) as c:
            before = time.time()
            r = await c.post(f"{self.child.base_url}/control/restart")
            r.raise_for_status()
            after = time.time()
        return (before + after) / 2

    async def calls(self) -> dict[str, int]:
        """Cumulative calls each upstream has received."""
        import httpx

        async with httpx.AsyncClient(timeout=2) as c:
            r = await c.get(f"{self.child.base_url}/control/stats")
            r.raise_for_status()
        data = r.json()
        return {name: int(s["requests"]) for name, s in data["upstreams"].items()}

    def stop(self) -> None:
        self.child.stop(5)
