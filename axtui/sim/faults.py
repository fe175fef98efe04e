"""What happens to one call: the faults active at its time, each hitting it with its `rate`.

Every roll is a hash of (seed, upstream, call number, fault key), not a draw from a shared
generator, so the n-th call to an upstream meets the same faults whatever else happened
(other upstreams, timing, faults added live), and one seed replays a run call by call.

When several faults hit one call: an outage wins, then a rate limit, then an error; latency
factors multiply, first-byte delays add, and the earliest stream cut applies.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field

from axtui.sim.scenario import Fault


def roll(seed: int, upstream: str, call: int, key: str) -> float:
    """A uniform number in [0, 1), fixed by its arguments."""
    digest = hashlib.blake2b(f"{seed}\x00{upstream}\x00{call}\x00{key}".encode(),
                             digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


@dataclass(frozen=True, slots=True)
class Plan:
    """The faults one call meets. Empty (the default) is a healthy answer."""

    outage: str | None = None  # reset | close | hang
    status: int | None = None  # an error status
    rate_limit: Fault | None = None  # the rate_limit fault that hit
    factor: float = 1.0  # latency multiplier
    first_byte_delay_s: float = 0.0
    cut_after: int | None = None  # stream frames sent before the connection closes
    hits: tuple[str, ...] = field(default=())  # keys of the faults that hit

    @property
    def outcome(self) -> str:
        """One word for the stats: outage, rate_limited, error, or ok."""
        if self.outage:
            return "outage"
        if self.rate_limit is not None:
            return "rate_limited"
        if self.status is not None:
            return "error"
        return "ok"


def plan_call(faults: Sequence[tuple[str, Fault]], t: float, *, seed: int, upstream: str,
              call: int) -> Plan:
    """The plan for call number `call` to `upstream` at scenario time `t`, from its faults
    (each with a stable key: `s3` for the scenario's fourth fault, `l7` for live fault 7)."""
    outage: str | None = None
    status: int | None = None
    limit: Fault | None = None
    factor, delay_s, cut = 1.0, 0.0, None
    hits: list[str] = []
    for key, f in faults:
        if not f.active(t) or roll(seed, upstream, call, key) >= f.rate:
            continue
        hits.append(key)
        if f.kind == "outage":
            outage = outage or f.mode
        elif f.kind == "rate_limit":
            limit = limit or f
        elif f.kind == "error":
            status = status or f.error_status
        elif f.kind == "latency":
            factor *= f.factor
        elif f.kind == "slow_first_byte":
            delay_s += f.delay_ms / 1000
        elif f.kind == "cut_stream":
            cut = f.after_chunks if cut is None else min(cut, f.after_chunks)
    return Plan(outage, status, limit, factor, delay_s, cut, tuple(hits))
