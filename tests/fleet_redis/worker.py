"""A gateway process's engine in a child process, for the fleet tests: one engine with
`[redis]` attached, driven through its real admit path. Prints one JSON line when ready,
waits for a line on stdin ("go"), does its part, prints one JSON line of results.

    python -m tests.fleet_redis.worker quota URL REQUESTS   # begin() as fast as it can
    python -m tests.fleet_redis.worker trip URL DEPLOYMENT  # trip that breaker, then exit
    python -m tests.fleet_redis.worker cool URL DEPLOYMENT  # a 429's 30 s cooldown
"""

from __future__ import annotations

import json
import sys
import time

from axtui.engine.engine import Engine, RequestContext
from axtui.engine.outcome import RoutingError
from axtui.fleet.fleet import attach
from axtui.providers.base import ChatRequest
from axtui.records import ErrorKind
from tests.fleet_redis.configs import fleet_config


def main(argv: list[str]) -> None:
    what, url, arg = argv
    config = fleet_config(url or None, key_rpm=600)
    engine = Engine(config, seed=1)
    fleet = attach(engine, config.redis, origin=f"worker-{what}")
    local = fleet is None
    print(json.dumps({"ready": True}), flush=True)
    sys.stdin.readline()
    if what == "quota":
        admitted, refused, first, last = 0, 0, None, None
        request = ChatRequest(messages=[{"role": "user", "content": "hi"}], model="chat",
                              max_tokens=1)
        ctx = RequestContext(key_id="k-shared")
        for _ in range(int(arg)):
            try:
                engine.begin(request, ctx)
            except RoutingError:
                refused += 1
            else:
                engine.end()
                admitted += 1
                first = first or time.time()
                last = time.time()
        out = {"admitted": admitted, "refused": refused, "first": first, "last": last,
               "local": None if local else fleet.quotas.local_decisions}
    elif what == "trip":
        breaker = engine.deployments[arg].breaker
        for _ in range(config.breaker.consecutive_failures):
            breaker.allow()
            breaker.on_failure(ErrorKind.server)
        out = {"state": str(breaker.state), "until": breaker.open_until,
               "published": fleet.breakers.published}
    elif what == "cool":
        engine.deployments[arg].headroom.cooldown(30.0)
        out = {"cooling_s": engine.deployments[arg].headroom.cooling_s()}
    else:
        raise SystemExit(f"unknown worker job {what!r}")
    print(json.dumps(out), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
