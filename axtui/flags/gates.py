"""Metric gates: the cohort against the baseline running at the same time.

Both sides are read from the store's records since the flag's last change: the cohort is the
requests the flag put in (variant "on" or a split variant), the baseline those it evaluated
and left out ("off"), so the same routes, the same period and the same traffic mix. Requests
an environment override decided, and the caller's own refusals (quota, budget, unknown
route, cancelled), are neither side. Too little data is never a pass.

Callers' ratings (POST /v1/feedback) of each side's requests are a gate too: the cohort's
mean may fall at most `max_rating_drop` below the baseline's, once each side has
`min_ratings`. Few ratings leave that gate unjudged without holding the verdict back (many
deployments never collect ratings), and with none on either side it is not listed at all;
a drop is a no-go like a rise in errors.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Literal

from pydantic import BaseModel, ConfigDict

from axtui import units
from axtui.flags.evaluate import in_cohort_variant, unit_id
from axtui.flags.model import FlagState
from axtui.quantiles import percentile
from axtui.records import ErrorKind, Outcome, RequestRecord

Verdict = Literal["go", "no-go", "inconclusive"]
MAX_RECORDS = 200_000  # newest records read per evaluation
_CALLER_SIDE = {ErrorKind.quota, ErrorKind.budget, ErrorKind.no_route}


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True)


class Side(_Frozen):
    """One side's numbers. Error = not served for a reason that is not the caller's."""

    requests: int
    errors: int
    error_rate: float | None
    p50_ms: float | None
    p95_ms: float | None
    cost_nano: int
    cost_per_request_nano: float | None
    units: int  # distinct users / keys / per-request units
    ratings: int = 0  # requests of this side a caller rated
    mean_rating: float | None = None  # on the config's [feedback] scale


class Check(_Frozen):
    name: str
    passed: bool | None  # None: not enough data to say
    observed: float | None
    limit: float | None
    detail: str


class SampleRatio(_Frozen):
    """Observed cohort share of units against the flag's percentage."""

    expected_pct: float
    observed_pct: float | None
    units: int
    cohort_units: int
    p_value: float | None  # None when the sample is too small for the test
    mismatch: bool


class GateReport(_Frozen):
    flag: str
    since: float
    until: float
    pct: float
    verdict: Verdict
    reasons: list[str]
    cohort: Side
    baseline: Side
    checks: list[Check]
    sample_ratio: SampleRatio
    savings_per_request_nano: float | None  # baseline cost/request minus the cohort's
    savings_nano: float | None  # ... times the cohort's requests
    excluded: int  # env-overridden or caller-side requests in the window
    truncated: bool  # the window held more than MAX_RECORDS records


def counts(outcome: str, error_kind: str | None) -> bool:
    """Whether a record of this outcome is on either side (the caller's own refusals and
    cancels are not); enums or their strings."""
    if outcome == Outcome.cancelled:
        return False
    return not (outcome == Outcome.rejected and error_kind in _CALLER_SIDE)


def _side(records: list[RequestRecord], units: int,
          ratings: Mapping[str, float] | None = None) -> Side:
    n = len(records)
    scores = [ratings[r.id] for r in records if r.id in ratings] if ratings else []
    errors = sum(1 for r in records if r.outcome is not Outcome.ok)
    lat = sorted(r.latency_ms for r in records if r.outcome is Outcome.ok)
    cost = sum(r.cost_nano for r in records)
    return Side(requests=n, errors=errors, error_rate=errors / n if n else None,
                p50_ms=percentile(lat, 0.5), p95_ms=percentile(lat, 0.95), cost_nano=cost,
                cost_per_request_nano=cost / n if n else None, units=units,
                ratings=len(scores), mean_rating=sum(scores) / len(scores) if scores else None)


def sample_ratio(cohort_units: int, units: int, pct: float, alpha: float) -> SampleRatio:
    """A two-sided binomial z-test of the cohort's share of units; testable once both
    expected counts reach 5."""
    p = pct / 100.0
    observed = 100.0 * cohort_units / units if units else None
    if units == 0 or units * p < 5 or units * (1 - p) < 5:
        return SampleRatio(expected_pct=pct, observed_pct=observed, units=units,
                           cohort_units=cohort_units, p_value=None, mismatch=False)
    z = (cohort_units - units * p) / math.sqrt(units * p * (1 - p))
    p_value = math.erfc(abs(z) / math.sqrt(2))
    return SampleRatio(expected_pct=pct, observed_pct=observed, units=units,
                       cohort_units=cohort_units, p_value=p_value, mismatch=p_value < alpha)


def evaluate_gates(store, state: FlagState, now: float, *, since: float | None = None
                   ) -> GateReport:
    """The verdict on `state`'s cohort from records in [since (default: the last change),
    now)."""
    since = state.last_change_at if since is None else since
    records = store.recent_records(since_ts=since, until_ts=now, limit=MAX_RECORDS)
    ratings = {r.request_id: r.score for r in store.ratings(since_ts=since, until_ts=now)}
    return judge(state, records, since, now, truncated=len(records) >= MAX_RECORDS,
                 ratings=ratings)


def judge(state: FlagState, records: list[RequestRecord], since: float, until: float,
          *, truncated: bool = False, ratings: Mapping[str, float] | None = None
          ) -> GateReport:
    """The gates over records already read (pure: the tests feed it directly too);
    `ratings`: callers' scores by record id."""
    name = state.name
    cohort: list[RequestRecord] = []
    baseline: list[RequestRecord] = []
    unit_side: dict[str, bool] = {}
    excluded = 0
    for r in records:
        variant = r.flags.get(name)
        if variant is None:
            continue
        inside = in_cohort_variant(variant)
        if not (inside or variant == "off") or not counts(r.outcome, r.error_kind):
            excluded += 1
            continue
        (cohort if inside else baseline).append(r)
        uid, _ = unit_id(state.definition.stickiness, r.user, r.key_id, r.id)
        unit_side.setdefault(uid, inside)
    c_units = sum(unit_side.values())
    c = _side(cohort, c_units, ratings)
    b = _side(baseline, len(unit_side) - c_units, ratings)
    return report(state, c, b, len(unit_side), since, until, excluded=excluded,
                  truncated=truncated)


def report(state: FlagState, c: Side, b: Side, units: int, since: float, until: float, *,
           excluded: int = 0, truncated: bool = False) -> GateReport:
    """The verdict on two sides already counted (`units`: both sides' distinct units)."""
    name, g = state.name, state.definition.gates
    srm = sample_ratio(c.units, units, state.effective_pct, g.srm_p)
    checks = _checks(state, c, b, srm)
    verdict, reasons = _verdict(checks, c, b, g.min_samples)
    savings = (b.cost_per_request_nano - c.cost_per_request_nano
               if b.cost_per_request_nano is not None and c.cost_per_request_nano is not None
               else None)
    return GateReport(
        flag=name, since=since, until=until, pct=state.effective_pct, verdict=verdict,
        reasons=reasons, cohort=c, baseline=b, checks=checks, sample_ratio=srm,
        savings_per_request_nano=savings,
        savings_nano=savings * c.requests if savings is not None else None,
        excluded=excluded, truncated=truncated,
    )


def _le(name: str, observed: float | None, limit: float | None, detail: str) -> Check:
    if observed is None or limit is None:
        return Check(name=name, passed=None, observed=observed, limit=limit,
                     detail=detail + " (no data)")
    return Check(name=name, passed=observed <= limit + 1e-12, observed=observed, limit=limit,
                 detail=detail)


def _checks(state: FlagState, c: Side, b: Side, srm: SampleRatio) -> list[Check]:
    g = state.definition.gates
    n = min(c.requests, b.requests)
    return [
        Check(name="samples", passed=n >= g.min_samples, observed=float(n),
              limit=float(g.min_samples),
              detail=f"cohort {c.requests}, baseline {b.requests}, need {g.min_samples} each"),
        _le("error_rate", c.error_rate, g.max_error_rate,
            f"cohort error rate <= {g.max_error_rate:.2%}"),
        _le("error_rate_vs_baseline", c.error_rate,
            None if b.error_rate is None else b.error_rate + g.max_error_rate_increase,
            f"cohort error rate <= baseline + {g.max_error_rate_increase:.2%}"),
        _le("p95_latency", c.p95_ms, None if b.p95_ms is None else b.p95_ms * g.max_p95_ratio,
            f"cohort p95 <= baseline p95 x {g.max_p95_ratio:g}"),
        _le("cost_per_request", c.cost_per_request_nano,
            None if b.cost_per_request_nano is None
            else b.cost_per_request_nano * g.max_cost_ratio,
            f"cohort cost/request <= baseline x {g.max_cost_ratio:g}"),
        *([_rating(c, b, g.min_ratings, g.max_rating_drop)] if c.ratings or b.ratings else []),
        Check(name="sample_ratio", passed=None if srm.p_value is None else not srm.mismatch,
              observed=srm.p_value, limit=g.srm_p,
              detail=f"observed cohort share {units.pct_points(srm.observed_pct)} of {srm.units} units vs "
                     f"{srm.expected_pct:g}% expected (mismatch when p < {g.srm_p:g})"),
    ]

def _rating(c: Side, b: Side, min_ratings: int, max_drop: float) -> Check:
    """The cohort's mean rating against the baseline's less the allowed drop."""
    detail = f"cohort mean rating >= baseline - {max_drop:g}"
    limit = None if b.mean_rating is None else b.mean_rating - max_drop
    if min(c.ratings, b.ratings) < min_ratings:
        return Check(name="rating", passed=None, observed=c.mean_rating, limit=limit,
                     detail=f"{detail} (ratings: cohort {c.ratings}, baseline {b.ratings}, "
                            f"need {min_ratings} each)")
    assert c.mean_rating is not None and limit is not None  # both sides have ratings
    return Check(name="rating", passed=c.mean_rating >= limit - 1e-12,
                 observed=c.mean_rating, limit=limit, detail=detail)


# Checks that may stay unjudged without making the verdict inconclusive.
_OPTIONAL = frozenset({"sample_ratio", "rating"})


def fmt(check: str, v: float | None) -> str:
    """A check's number as people read it."""
    if v is None:
        return "–"
    if check.startswith("error_rate"):
        return units.pct(v, 2)
    if check == "p95_latency":
        return units.ms_plain(v)
    if check == "cost_per_request":
        return units.usd(v, 6)
    if check == "sample_ratio":
        return f"p={v:.3g}"
    if check == "rating":
        return f"{v:.2f}"
    return f"{v:g}"


def _failure(k: Check) -> str:
    op = "<" if k.name in ("sample_ratio", "rating") else ">"
    return f"{k.name} {fmt(k.name, k.observed)} {op} {fmt(k.name, k.limit)} ({k.detail})"


def _verdict(checks: list[Check], c: Side, b: Side, min_samples: int
             ) -> tuple[Verdict, list[str]]:
    failed = [_failure(k) for k in checks if k.passed is False and k.name != "samples"]
    if c.requests < min_samples or b.requests < min_samples:
        return "inconclusive", [f"too little data: cohort {c.requests}, baseline "
                                f"{b.requests}, need {min_samples} each",
                                *(f"failing so far: {f}" for f in failed)]
    if failed:
        return "no-go", failed
    unknown = [f"{k.name}: no data" for k in checks if k.passed is None
               and k.name not in _OPTIONAL]
    if unknown:
        return "inconclusive", unknown
    return "go", ["every gate passed"]
