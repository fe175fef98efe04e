"""The share of requests served on free tiers, and the spend that avoided.

A deployment is on a free tier when its config says so (`free_tier = true`) or its
provider has a `[providers.X.free_tier]` allowance (Config.is_free_tier). The spend
avoided is what those requests cost at the model's list price: the figure the engine
records for them (cost_nano), which a paid tier would have charged.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from axtui.costs import queries as q
from axtui.costs.model import Frozen, connection

TARGET_SHARE = 0.9  # the plans' target for free-tier traffic


class FreeTierShare(Frozen):
    since: float
    until: float
    served: int  # requests answered (outcome ok), on any deployment
    free: int  # of those, answered by a free-tier deployment
    share: float | None  # free / served (None when nothing was served)
    avoided_nano: int  # list-price cost of the free-tier answers
    deployments: list[str]  # the free-tier deployments counted


def free_deployments(cfg: Any) -> list[str]:
    """The config's free-tier deployments (Config.is_free_tier: no engine import, so a
    replay or a reader of the store does not pay for the providers' HTTP stack)."""
    return sorted(d.id for d in cfg.deployments if cfg.is_free_tier(d))


def free_tier_share(source: Any, since: float, until: float, free: Iterable[str]
                    ) -> FreeTierShare:
    """Over the whole minutes of [since, until), from the rollups."""
    free = sorted(set(free))
    served = on_free = avoided = 0
    with connection(source) as conn:
        for dep, _n, ok, cost in q.served_totals(conn, since, until):
            served += ok
            if dep in free:
                on_free += ok
                avoided += cost
    return FreeTierShare(since=since, until=until, served=served, free=on_free,
                         share=on_free / served if served else None, avoided_nano=avoided,
                         deployments=free)
