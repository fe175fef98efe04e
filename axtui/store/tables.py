"""The store's tables: plain SQLModel, nothing dialect-specific beyond harmless hints.

`request` holds one row per RequestRecord: the columns queries filter and sum on, plus the
whole record as JSON text so it round-trips exactly. Attempts live only inside that JSON and
in the rollups: an `attempt` table would double the rows written per request (the recorder's
cost), while deployment health reads the rollups' attempt columns, which count attempts.

Rollups are per period x route x deployment, at three resolutions (`res`: 60, 3600 and
86400 s) in the same tables. Their counters, histogram buckets and error kinds are all plain
columns so concurrent writers (processes sharing the store) add to them with `SET n = n + ?`;
a JSON histogram could only be merged by read-modify-write. They are Core tables (no model
class): nothing reads them as objects.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Float, Integer, String, Table, Text
from sqlmodel import Field, SQLModel

from axtui.quantiles import BUCKETS_PER_DOUBLING

# An INTEGER PRIMARY KEY is SQLite's rowid (fast, monotonic); elsewhere a 64-bit identity.
_SERIAL = BigInteger().with_variant(Integer(), "sqlite")


def _big(**kw) -> Column:
    return Column(BigInteger(), nullable=False, default=0, **kw)


class RequestRow(SQLModel, table=True):
    """One request. `seq` is the insertion order: the live tail's cursor."""

    __tablename__ = "request"
    # AUTOINCREMENT: a seq is never reused even if retention empties the table.
    __table_args__ = {"sqlite_autoincrement": True}

    seq: int | None = Field(default=None, sa_column=Column(_SERIAL, primary_key=True))
    id: str = Field(sa_column=Column(String, nullable=False, unique=True))
    started_at: float = Field(sa_column=Column(Float, nullable=False, index=True))
    ended_at: float
    route: str
    requested_route: str
    user: str | None = None
    key_id: str | None = None
    deployment: str | None = None
    outcome: str
    error_kind: str | None = None
    status: int
    stream: bool
    est_prompt_tokens: int
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    latency_ms: float
    ttft_ms: float | None = None
    cost_nano: int = Field(sa_column=Column(BigInteger, nullable=False))
    optimal_cost_nano: int | None = Field(default=None, sa_column=Column(BigInteger))
    attempts_n: int
    reason: str
    record: str = Field(sa_column=Column(Text, nullable=False))  # record.model_dump_json()


# Request-level counters (attributed to the deployment that served) and attempt-level
# counters (attributed to the attempted deployment), in the order rollups.py fills them.
ROLLUP_COUNTERS = (
    "requests",
    "ok",
    "errors",
    "rejected",  # outcome rejected: refused before any attempt
    "failovers",  # requests that took more than one attempt
    "latency_n",  # requests that reached a provider: those in the latency histogram
    "latency_ms_sum",
    "ttft_n",
    "ttft_ms_sum",
    "prompt_tokens",
    "completion_tokens",
    "cost_nano",
    "optimal_cost_nano",  # optimal when known, else the actual cost (no claimed saving)
    "attempts",
    "attempts_ok",
    "attempt_errors",
    "attempt_failovers",  # attempts after which the request moved on to another attempt
    "attempt_latency_ms_sum",
    "attempt_ttft_n",
    "attempt_ttft_ms_sum",
    "attempt_prompt_tokens",
    "attempt_completion_tokens",
    "attempt_cost_nano",
)
_FLOAT_COUNTERS = {"latency_ms_sum", "ttft_ms_sum", "attempt_latency_ms_sum",
                   "attempt_ttft_ms_sum"}
# One histogram row holds one doubling of buckets (see axtui/quantiles.py): a latency
# spread touches a handful of rows rather than a hundred.
SLOTS = tuple(f"b{i}" for i in range(BUCKETS_PER_DOUBLING))


def _keys(*names: str) -> list[Column]:
    """Primary-key columns: res (60, 3600, 86400), period (epoch s of its start), strings."""
    types = {"res": Integer, "period": BigInteger, "octave": Integer}
    return [Column(n, types.get(n, String), primary_key=True, autoincrement=False)
            for n in names]


# deployment is "" for requests that no deployment served (rejected, all failed)
rollup_table = Table(
    "rollups", SQLModel.metadata,
    *_keys("res", "period", "route", "deployment"),
    *(Column(n, Float, nullable=False, default=0.0) if n in _FLOAT_COUNTERS
      else _big(name=n) for n in ROLLUP_COUNTERS),
    sqlite_with_rowid=False,  # clustered on the key: range reads touch only their pages
)
# series (request, attempt, request_ttft, attempt_ttft) leads the period, so a query reads
# only the series it needs out of the primary key's range. Request series are kept per route
# (deployment ""), attempt series per deployment (route ""): the only ways they are read.
rollup_hist_table = Table(
    "rollup_hist", SQLModel.metadata,
    *_keys("res", "series", "period", "route", "deployment", "octave"),
    *(_big(name=n) for n in SLOTS),
    sqlite_with_rowid=False,
)
rollup_error_table = Table(
    "rollup_errors", SQLModel.metadata,
    *_keys("res", "series", "period", "route", "deployment", "kind"),  # series: request|attempt
    _big(name="n"),
    sqlite_with_rowid=False,
)
ROLLUP_TABLES = (rollup_table, rollup_hist_table, rollup_error_table)


class EventRow(SQLModel, table=True):
    """Something that happened beside requests: a budget threshold, a breaker, a drain."""

    __tablename__ = "event"
    __table_args__ = {"sqlite_autoincrement": True}

    id: int | None = Field(default=None, sa_column=Column(_SERIAL, primary_key=True))
    ts: float = Field(sa_column=Column(Float, nullable=False, index=True))
    kind: str = Field(sa_column=Column(String, nullable=False, index=True))
    subject: str
    detail: str = Field(sa_column=Column(Text, nullable=False))  # JSON object


class ControlRow(SQLModel, table=True):
    """One control-plane entry (a flag, a drain, a kill, an ack), versioned."""

    __tablename__ = "control"

    key: str = Field(sa_column=Column(String, primary_key=True))
    value: str = Field(sa_column=Column(Text, nullable=False))  # JSON
    version: int = Field(sa_column=Column(BigInteger, nullable=False))
    updated_at: float
    updated_by: str


class CounterRow(SQLModel, table=True):
    """Store-wide counters: the control version, and the recorders' written/dropped totals."""

    __tablename__ = "counter"

    name: str = Field(sa_column=Column(String, primary_key=True))
    n: int = Field(default=0, sa_column=_big())


class AlertStateRow(SQLModel, table=True):
    """Where one alert rule stands (written by the evaluator, read by every face)."""

    __tablename__ = "alert_state"

    name: str = Field(sa_column=Column(String, primary_key=True))
    state: str  # inactive | pending | firing | resolved | nodata
    value: float | None = None
    threshold: float
    since: float  # when it entered this state
    active_since: float | None = None  # pending or firing since (cleared when inactive)
    evaluated_at: float
    last_notified_at: float | None = None
    notifications_sent: int = Field(default=0, sa_column=_big())
    notifications_failed: int = Field(default=0, sa_column=_big())
    rule: str = Field(sa_column=Column(Text, nullable=False))  # the rule as JSON
