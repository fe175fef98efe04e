"""The drill's handle on `axtui sim serve`: a child process hosting every upstream of the
scenario, its URLs for the gateway config, and its control endpoint (restart the scenario
clock, read call counts)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from axtui.drill import processes


class SimClient:
    def __init__(self, child: processes.Child, paths: dict[str, str]) -> None:
        self.child = child
        self.paths = paths  # upstream -> its base path (/u/alpha/v1)

    @classmethod
    def start(cls, scenario: Any, work: Path, *, seed: int) -> SimClient:
        import httpx

        child = processes.start(
            "axtui sim serve", ["sim", "serve", "--scenario", str(scenario.source),
                                "--host", "127.0.0.1", "--port", "0", "--seed", str(seed)],
            work / "sim.log", announce="axtui sim: ")
        try:
            processes.wait_ready(child, "/_sim/state")
            state = httpx.get(child.base_url + "/_sim/state", timeout=5).json()
        except BaseException:
            child.stop(5)
            raise
        return cls(child, {u["name"]: u["path"] for u in state["upstreams"]})

    def upstream_urls(self) -> dict[str, str]:
        return {name: self.child.base_url + path for name, path in self.paths.items()}

    async def restart(self) -> float:
        """Restart the scenario clock (stats start afresh); the wall time it restarted at."""
        import httpx

        async with httpx.AsyncClient(timeout=5) as c:
            before = time.time()
            r = await c.post(f"{self.child.base_url}/_sim/restart")
            after = time.time()
        r.raise_for_status()
        return (before + after) / 2

    async def calls_by_second(self) -> dict[str, dict[int, int]]:
        """Calls each upstream received, per whole second of the scenario clock."""
        import httpx

        async with httpx.AsyncClient(timeout=5) as c:
            r = await c.get(f"{self.child.base_url}/_sim/stats")
        r.raise_for_status()
        return {name: {int(sec): int(n) for sec, n in s["by_second"]}
                for name, s in r.json()["upstreams"].items()}

    async def clear_faults(self) -> None:
        """Switch the scenario's faults off until the next restart."""
        import httpx

        async with httpx.AsyncClient(timeout=5) as c:
            r = await c.delete(f"{self.child.base_url}/_sim/faults", params={"scenario": "1"})
        r.raise_for_status()

    def stop(self) -> None:
        self.child.stop(5)
