"""Spend limits per scope (global, route, user, key) and period (UTC day or month).

Spend is counted in exact nano-dollars. A request is refused once its scope has spent its
limit for the period; crossing a threshold (50/80/100% by default) emits one event per
scope, period and threshold. Counters are in-process and can be seeded from the store at
start; across processes they become exact with a shared counter store (Redis) later.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from axtui.clock import Clock
from axtui.config import BudgetConfig
from axtui.records import NANO_PER_USD
from axtui.units import usd


@dataclass(slots=True, frozen=True)
class BudgetDecision:
    ok: bool
    scope: str = ""
    reason: str = ""
    retry_after_s: float | None = None


ALLOW = BudgetDecision(ok=True)
_ADJECTIVE = {"day": "daily", "month": "monthly"}


@dataclass(slots=True, frozen=True)
class BudgetStatus:
    scope: str  # concrete scope, e.g. "user:alice"
    period: str
    period_start: float
    spent_nano: int
    limit_nano: int

    @property
    def fraction(self) -> float:
        return self.spent_nano / self.limit_nano if self.limit_nano else 0.0


@dataclass(slots=True, frozen=True)
class ThresholdCrossed:
    scope: str
    period: str
    threshold: int
    spent_nano: int
    limit_nano: int
    at: float


def period_bounds(now: float, period: str) -> tuple[float, float]:
    """[start, end) of the UTC day or month containing `now`."""
    t = datetime.fromtimestamp(now, UTC)
    if period == "day":
        start = t.replace(hour=0, minute=0, second=0, microsecond=0)
        end = start.timestamp() + 86_400
        return start.timestamp(), end
    start = t.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    nxt = start.replace(year=start.year + 1, month=1) if start.month == 12 else start.replace(
        month=start.month + 1)
    return start.timestamp(), nxt.timestamp()


class _Budget:
    __slots__ = ("cfg", "limit_nano", "kind", "target", "spent", "period_start", "period_end",
                 "crossed")

    def __init__(self, cfg: BudgetConfig) -> None:
        self.cfg = cfg
        self.limit_nano = int(cfg.limit_usd * NANO_PER_USD)
        self.kind, _, self.target = cfg.scope.partition(":")  # ("global", "", "")
        self.spent: dict[str, int] = {}
        self.period_start = self.period_end = 0.0
        self.crossed: dict[str, set[int]] = {}

    def subject(self, route: str, user: str | None, key_id: str | None) -> str | None:
        """The concrete scope this request charges, or None if the budget doesn't apply."""
        if self.kind == "global":
            return "global"
        value = {"route": route, "user": user, "key": key_id}[self.kind]
        if value is None or (self.target != "*" and self.target != value):
            return None
        return f"{self.kind}:{value}"

    def roll(self, now: float) -> None:
        if now >= self.period_end or now < self.period_start:
            self.period_start, self.period_end = period_bounds(now, self.cfg.period)
            self.spent.clear()
            self.crossed.clear()


class Budgets:
    def __init__(
        self,
        clock: Clock,
        configs: list[BudgetConfig],
        on_threshold: Callable[[ThresholdCrossed], None] | None = None,
    ) -> None:
        self.clock = clock
        self._budgets = [_Budget(c) for c in configs]
        self._on_threshold = on_threshold

    def __bool__(self) -> bool:
        return bool(self._budgets)

    def check(self, route: str, user: str | None, key_id: str | None) -> BudgetDecision:
        now = self.clock.now()
        for b in self._budgets:
            subject = b.subject(route, user, key_id)
            if subject is None:
                continue
            b.roll(now)
            spent = b.spent.get(subject, 0)
            if spent >= b.limit_nano:
                return BudgetDecision(
                    ok=False,
                    scope=subject,
                    reason=(
                        f"{_ADJECTIVE[b.cfg.period]} budget for {subject} is spent: "
                        f"{usd(spent, grouping=False)} of {usd(b.limit_nano, grouping=False)}"
                    ),
                    retry_after_s=max(0.0, b.period_end - now),
                )
        return ALLOW

    def record(self, route: str, user: str | None, key_id: str | None, cost_nano: int) -> None:
        if cost_nano <= 0 or not self._budgets:
            return
        now = self.clock.now()
        for b in self._budgets:
            subject = b.subject(route, user, key_id)
            if subject is None:
                continue
            b.roll(now)
            before = b.spent.get(subject, 0)
            after = before + cost_nano
            b.spent[subject] = after
            self._thresholds(b, subject, before, after, now)

    def seed(self, scope_spent: dict[str, int]) -> None:
        """Start from spend already in the store for the current periods
        (keys are concrete scopes: "global", "route:chat", "user:alice")."""
        now = self.clock.now()
        for b in self._budgets:
            b.roll(now)
            for subject, spent in scope_spent.items():
                kind = subject.partition(":")[0]
                if kind == b.kind and (b.kind == "global" or b.target in ("*", subject[len(kind) + 1:])):
                    b.spent[subject] = spent
                    done = b.crossed.setdefault(subject, set())
                    done.update(t for t in b.cfg.thresholds if spent * 100 >= t * b.limit_nano)

    def status(self) -> list[BudgetStatus]:
        out = []
        now = self.clock.now()
        for b in self._budgets:
            b.roll(now)
            subjects = b.spent or ({"global": 0} if b.kind == "global" else {})
            if b.kind != "global" and b.target != "*":
                subjects = {b.cfg.scope: b.spent.get(b.cfg.scope, 0)}
            for subject, spent in subjects.items():
                out.append(BudgetStatus(subject, b.cfg.period, b.period_start, spent,
                                        b.limit_nano))
        return out

    def _thresholds(self, b: _Budget, subject: str, before: int, after: int, now: float) -> None:
        done = b.crossed.setdefault(subject, set())
        for t in b.cfg.thresholds:
            if t not in done and after * 100 >= t * b.limit_nano > before * 100:
                done.add(t)
                if self._on_threshold:
                    self._on_threshold(ThresholdCrossed(subject, b.cfg.period, t, after,
                                                        b.limit_nano, now))

