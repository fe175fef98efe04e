"""Simulated providers fitted per deployment from a trace: the latency distribution (p50,
p95, time to first token, generation speed), output length, error kinds and their base
rates, and the minutes where a deployment mostly failed (an outage, or a rate-limit storm
when the failures were 429s) as outage windows, so a counterfactual run meets the same
trouble at the same time."""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any

from axtui.config import SimProfile
from axtui.quantiles import bucket_of, histogram_percentile

BUCKET_S = 60.0  # the resolution of "error rates over time"
OUTAGE_SHARE = 0.5  # a minute where at least this share of attempts failed...
OUTAGE_MIN_ATTEMPTS = 3  # ...among at least this many starts an outage; fewer extend one
BRIDGE_BUCKETS = 3  # quiet minutes (the breaker open: few attempts) inside an outage join it
_SIM_ERRORS = ("server", "overloaded", "timeout", "connect", "rate_limited", "malformed")
_OUTAGE_KINDS = ("server", "overloaded", "timeout", "connect", "rate_limited")


@dataclass
class _Dep:
    attempts: int = 0
    ok: int = 0
    latency: Counter[int] = field(default_factory=Counter)  # non-streamed ok calls
    any_latency: Counter[int] = field(default_factory=Counter)
    ttft: Counter[int] = field(default_factory=Counter)
    completion_tokens: int = 0
    gen_tokens: int = 0  # streamed: tokens over generation seconds
    gen_s: float = 0.0
    errors: Counter[str] = field(default_factory=Counter)
    per_bucket: dict[int, list] = field(default_factory=lambda: defaultdict(lambda: [0, Counter()]))


class Fitter:
    """Feed every recorded record (`add`), then `profiles()`: one SimProfile a deployment."""

    def __init__(self, start: float) -> None:
        self.start = start
        self.deps: dict[str, _Dep] = {}

    def add(self, r: Any) -> None:
        """One record: a model, or its fields as read from its line (enums as their
        strings), read as attributes, as Tally.add reads them."""
        stream = r.stream
        for a in r.attempts:
            dep = a.deployment
            d = self.deps.get(dep)
            if d is None:
                d = self.deps[dep] = _Dep()
            d.attempts += 1
            slot = d.per_bucket[int((a.started_at - self.start) // BUCKET_S)]
            slot[0] += 1
            kind = a.error_kind
            if kind is None:
                d.ok += 1
                latency, ttft, usage = a.latency_ms, a.ttft_ms, a.usage
                b = bucket_of(latency)
                d.any_latency[b] += 1
                if not stream:
                    d.latency[b] += 1
                if ttft is not None:
                    d.ttft[bucket_of(ttft)] += 1
                if usage is not None:
                    tokens = usage.completion_tokens
                    d.completion_tokens += tokens
                    if stream and ttft is not None and latency > ttft:
                        d.gen_tokens += tokens
                        d.gen_s += (latency - ttft) / 1000.0
            else:
                kind = kind if type(kind) is str else kind.value
                d.errors[kind] += 1
                slot[1][kind] += 1

    def profiles(self, base: dict[str, SimProfile], seed: int) -> dict[str, SimProfile]:
        """A fitted profile for every deployment the trace saw; `base` (the config's
        profiles) fills what the trace cannot tell (e.g. no successful call)."""
        out = {}
        for dep, d in sorted(self.deps.items()):
            out[dep] = self._profile(d, base.get(dep) or SimProfile(), seed)
        return out

    def _profile(self, d: _Dep, base: SimProfile, seed: int) -> SimProfile:
        lat = d.latency if d.latency else d.any_latency
        p50 = histogram_percentile(lat, 0.5) or base.latency_p50_ms
        p95 = max(histogram_percentile(lat, 0.95) or base.latency_p95_ms, p50)
        ttft = histogram_percentile(d.ttft, 0.5) if d.ttft else base.ttft_ms
        tps = d.gen_tokens / d.gen_s if d.gen_s > 0 and d.gen_tokens else base.tokens_per_s
        out_mean = round(d.completion_tokens / d.ok) if d.ok and d.completion_tokens else \
            base.output_tokens_mean
        outages, outage_buckets = self._outages(d)
        # base rates from the minutes outside the outages
        normal = sum(n for b, (n, _) in d.per_bucket.items() if b not in outage_buckets)
        kinds: Counter[str] = Counter()
        for b, (_, errs) in d.per_bucket.items():
            if b not in outage_buckets:
                kinds.update(errs)
        errors = {k: round(kinds[k] / normal, 5) for k in _SIM_ERRORS if kinds[k] and normal}
        total = sum(errors.values())
        if total > 1.0:
            errors = {k: v / total for k, v in errors.items()}
        return SimProfile(latency_p50_ms=round(p50, 1), latency_p95_ms=round(p95, 1),
                          ttft_ms=round(ttft, 1), tokens_per_s=round(max(tps, 1.0), 1),
                          output_tokens_mean=max(1, out_mean), errors=errors,
                          outages=outages, supports=base.supports, seed=seed)

    def _outages(self, d: _Dep) -> tuple[list[dict], set[int]]:
        bad: dict[int, str] = {}
        strong: set[int] = set()
        for b, (n, errs) in d.per_bucket.items():
            failed = sum(errs.values())
            if n and failed / n >= OUTAGE_SHARE:
                kind = max(sorted(errs), key=lambda k: errs[k])
                bad[b] = kind if kind in _OUTAGE_KINDS else "server"
                if n >= OUTAGE_MIN_ATTEMPTS:
                    strong.add(b)
        merged: list[list] = []  # [first bucket, last bucket, kind]
        for b in sorted(bad):
            if merged and merged[-1][2] == bad[b] and b - merged[-1][1] <= BRIDGE_BUCKETS + 1:
                merged[-1][1] = b
            else:
                merged.append([b, b, bad[b]])
        # a lone failed call in a quiet minute is noise; a window needs one busy bad minute
        windows = [w for w in merged if any(w[0] <= b <= w[1] for b in strong)]
        covered = {b for lo, hi, _ in windows for b in range(lo, hi + 1)}
        return [{"start_s": lo * BUCKET_S, "end_s": (hi + 1) * BUCKET_S, "kind": kind}
                for lo, hi, kind in windows], covered
