"""The gateway's caller keys' own limits (`[[keys]]` and `axtui keys create`: rpm, tpm,
budget_day_usd) counted by the fleet: the same scripts as the caller quotas, with each
key's limits passed along. While Redis is away the ring's in-process counts decide (they
count every finished request all along, so they start from this process's share)."""

from __future__ import annotations

from axtui.engine.limits import DAY
from axtui.fleet.link import Unavailable
from axtui.fleet.quotas import SharedQuotas
from axtui.gateway.keys import CallerKey, KeyRefusal, KeyRing
from axtui.providers.base import RateLimitInfo
from axtui.records import ErrorKind, RequestRecord


class SharedKeyRing(KeyRing):
    """A KeyRing whose usage is the fleet's: `SharedKeyRing.share(ring, shared)`."""

    shared: SharedQuotas
    local_admits: int

    @classmethod
    def share(cls, ring: KeyRing, shared: SharedQuotas) -> SharedKeyRing:
        """Turn the gateway's ring into a shared one in place: the control sync and the
        record listener already hold it, and its keys swap on every control poll."""
        ring.__class__ = cls
        assert isinstance(ring, SharedKeyRing)
        ring.shared = shared
        ring.local_admits = 0
        return ring

    def admit(self, key: CallerKey, route: str) -> KeyRefusal | None:
        if not key.allows(route) or (key.rpm is None and key.tpm is None
                                     and key.budget_day_usd is None):
            return super().admit(key, route)
        try:
            refused = self.shared.check_ring(key.id, key.rpm or 0, key.tpm or 0,
                                             key.budget_day_nano)
        except Unavailable:
            self.local_admits += 1
            refusal = super().admit(key, route)
            if refusal is None:
                self.shared.record_ring(key.id, 0, 0, admitted_here=1 if key.rpm else 0)
            return refusal
        if refused is None:
            u = self._usage_of(key)  # this process's share, should Redis go away
            if u.rpm is not None:
                u.rpm.take(self.clock.monotonic(), 1)
            return None
        what, wait = refused
        if what == "rpm":
            return KeyRefusal(ErrorKind.quota,
                              f"key {key.name} rate limit: {key.rpm} requests per minute", wait)
        if what == "tpm":
            return KeyRefusal(ErrorKind.quota,
                              f"key {key.name} token limit: {key.tpm} tokens per minute", wait)
        wall = self.clock.now()
        return KeyRefusal(ErrorKind.budget, f"key {key.name} daily budget of "
                          f"${key.budget_day_usd} is spent; it resets at 00:00 UTC",
                          DAY - wall % DAY)

    def on_record(self, record: RequestRecord) -> None:
        super().on_record(record)  # the local counts: the fallback's starting point
        kid = record.key_id
        if kid is None or (not record.cost_nano and record.usage is None):
            return
        tokens = record.usage.total_tokens if record.usage is not None else 0
        self.shared.record_ring(kid, tokens, record.cost_nano)

    def remaining(self, key: CallerKey) -> RateLimitInfo | None:
        if not self.shared.link.up:
            return super().remaining(key)
        return self.shared.ring_remaining(key.id)
