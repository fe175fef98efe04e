"""Sticky cohorts, compatible with Unleash's gradual rollout.

A unit (user, key, or request) with id `uid` is in a flag's cohort at `pct` % when its
normalized bucket `murmur3_x86_32("{salt}:{uid}", seed 0, unsigned) % 100 + 1` is at most
`pct`: for whole percentages this is exactly Unleash's rule, so a user's cohort agrees with
other tools hashing the same group id.

Tenths of a percent refine only the boundary bucket: at 2.5 % a unit is in when its bucket is
1-2, or when it is 3 and its tenth (a digit taken from the same hash, above the bucket's own
bits) is below 5. Raising the percentage therefore only ever adds units, lowering only
removes them, and every whole percentage keeps Unleash's cohort exactly.
"""

from __future__ import annotations

import mmh3

VARIANT_SEED = 86028157  # Unleash's seed for variant assignment, independent of the cohort


def _hash(salt: str, uid: str, seed: int = 0) -> int:
    return mmh3.hash(f"{salt}:{uid}", seed=seed, signed=False)


def normalized(salt: str, uid: str) -> int:
    """Unleash's normalized value: 1..100."""
    return _hash(salt, uid) % 100 + 1


def in_cohort(salt: str, uid: str, pct_tenths: int) -> bool:
    """Whether `uid` is in the cohort at `pct_tenths` / 10 percent (0..1000)."""
    if pct_tenths <= 0:
        return False
    if pct_tenths >= 1000:
        return True
    h = _hash(salt, uid)
    bucket = h % 100 + 1
    whole, tenths = divmod(pct_tenths, 10)
    if bucket <= whole:
        return True
    return bucket == whole + 1 and (h // 100) % 10 < tenths


def variant_index(salt: str, uid: str, weights: tuple[float, ...]) -> int:
    """A weighted choice among variants, sticky per unit and independent of the cohort hash."""
    total = sum(weights)
    point = (_hash(salt, uid, VARIANT_SEED) % 10_000 + 1) / 10_000 * total
    acc = 0.0
    for i, w in enumerate(weights):
        acc += w
        if point <= acc:
            return i
    return len(weights) - 1
