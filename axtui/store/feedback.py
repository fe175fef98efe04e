"""Callers' ratings of requests (POST /v1/feedback): one row per rated request.

A rating is keyed by its record's id (a new rating of the same request replaces the old).
The record's route, deployment, flag variants and start time are copied onto the row when
it is written, so reports (per deployment, per flag cohort, a gate's window) read this small
table alone rather than the records' JSON.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import orjson
from sqlalchemy import Column, Connection, Float, String, Text, delete, insert, select
from sqlmodel import Field, SQLModel

from axtui.records import RequestRecord


class FeedbackRow(SQLModel, table=True):
    """One request's rating."""

    __tablename__ = "feedback"

    request_id: str = Field(sa_column=Column(String, primary_key=True))
    key_id: str | None = None  # the caller key that made (and so may rate) the request
    score: float
    label: str | None = None
    comment: str | None = Field(default=None, sa_column=Column(Text))  # only if captured
    rated_at: float
    request_started_at: float = Field(sa_column=Column(Float, nullable=False, index=True))
    route: str
    deployment: str | None = None
    flags: str = Field(sa_column=Column(Text, nullable=False))  # JSON {flag: variant}


_T = FeedbackRow.__table__


@dataclass(frozen=True)
class Rating:
    """A rating as read back: the request, its score and where it was served."""

    request_id: str
    score: float
    deployment: str | None
    flags: dict[str, str]


@dataclass(frozen=True)
class RatingSummary:
    """Ratings of one group: how many, and their mean."""

    n: int
    mean: float | None

    @staticmethod
    def of(scores: Iterable[float]) -> RatingSummary:
        s = list(scores)
        return RatingSummary(len(s), sum(s) / len(s) if s else None)


def rate(conn: Connection, record: RequestRecord, score: float, label: str | None,
         comment: str | None, now: float) -> None:
    """Write (or replace) `record`'s rating."""
    conn.execute(delete(_T).where(_T.c.request_id == record.id))
    conn.execute(insert(_T).values(
        request_id=record.id, key_id=record.key_id, score=float(score), label=label,
        comment=comment, rated_at=now, request_started_at=record.started_at,
        route=record.route, deployment=record.deployment,
        flags=orjson.dumps(record.flags).decode()))


def ratings(conn: Connection, since_ts: float | None = None,
            until_ts: float | None = None) -> list[Rating]:
    """Ratings of the requests that started in [since, until)."""
    q = select(_T.c.request_id, _T.c.score, _T.c.deployment, _T.c.flags)
    if since_ts is not None:
        q = q.where(_T.c.request_started_at >= since_ts)
    if until_ts is not None:
        q = q.where(_T.c.request_started_at < until_ts)
    return [Rating(rid, float(score), dep, orjson.loads(flags))
            for rid, score, dep, flags in conn.execute(q)]


def by_deployment(rows: Iterable[Rating]) -> dict[str, RatingSummary]:
    """Ratings per deployment that served ("" for requests none served)."""
    groups: dict[str, list[float]] = {}
    for r in rows:
        groups.setdefault(r.deployment or "", []).append(r.score)
    return {d: RatingSummary.of(s) for d, s in sorted(groups.items())}


def by_flag(rows: Iterable[Rating]) -> dict[str, dict[str, RatingSummary]]:
    """Ratings per flag and variant (the flag's cohort and its baseline "off")."""
    groups: dict[str, dict[str, list[float]]] = {}
    for r in rows:
        for flag, variant in r.flags.items():
            groups.setdefault(flag, {}).setdefault(variant, []).append(r.score)
    return {f: {v: RatingSummary.of(s) for v, s in sorted(vs.items())}
            for f, vs in sorted(groups.items())}
