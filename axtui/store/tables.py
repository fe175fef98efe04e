"""The store's tables: plain SQLModel, nothing dialect-specific beyond harmless hints.

`request` holds one row per RequestRecord: the columns queries filter and sum on, plus the
whole record as JSON text so it round-trips exactly. Attempts live only inside that JSON and
in the rollups: an `attempt` table would double the rows written per request (the recorder's
cost), while deployment health reads the rollups' attempt columns, which count attempts.

Rollups are per minute x route x deployment. Their counters, histogram buckets and error
kinds are all plain integer columns so concurrent writers (processes sharing the store) add
to them with `SET n = n + ?`; a JSON histogram could only be merged by read-modify-write.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Float, Integer, String, Text
from sqlmodel import Field, SQLModel

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
    "attempt_latency_ms_sum",
    "attempt_ttft_n",
    "attempt_ttft_ms_sum",
    "attempt_prompt_tokens",
    "attempt_completion_tokens",
    "attempt_cost_nano",
)


class RollupRow(SQLModel, table=True):
    """Counters for one minute (epoch seconds of its start), route and deployment.

    `deployment` is "" for requests that no deployment served (rejected, all failed).
    """

    __tablename__ = "rollup"

    minute: int = Field(sa_column=Column(BigInteger, primary_key=True))
    route: str = Field(sa_column=Column(String, primary_key=True))
    deployment: str = Field(sa_column=Column(String, primary_key=True))
    requests: int = Field(default=0, sa_column=_big())
    ok: int = Field(default=0, sa_column=_big())
    errors: int = Field(default=0, sa_column=_big())
    latency_n: int = Field(default=0, sa_column=_big())
    latency_ms_sum: float = 0.0
    ttft_n: int = Field(default=0, sa_column=_big())
    ttft_ms_sum: float = 0.0
    prompt_tokens: int = Field(default=0, sa_column=_big())
    completion_tokens: int = Field(default=0, sa_column=_big())
    cost_nano: int = Field(default=0, sa_column=_big())
    optimal_cost_nano: int = Field(default=0, sa_column=_big())
    attempts: int = Field(default=0, sa_column=_big())
    attempts_ok: int = Field(default=0, sa_column=_big())
    attempt_errors: int = Field(default=0, sa_column=_big())
    attempt_latency_ms_sum: float = 0.0
    attempt_ttft_n: int = Field(default=0, sa_column=_big())
    attempt_ttft_ms_sum: float = 0.0
    attempt_prompt_tokens: int = Field(default=0, sa_column=_big())
    attempt_completion_tokens: int = Field(default=0, sa_column=_big())
    attempt_cost_nano: int = Field(default=0, sa_column=_big())


class RollupHistogramRow(SQLModel, table=True):
    """One latency histogram bucket (see rollups.bucket_of); series is request or attempt."""

    __tablename__ = "rollup_histogram"

    minute: int = Field(sa_column=Column(BigInteger, primary_key=True))
    route: str = Field(sa_column=Column(String, primary_key=True))
    deployment: str = Field(sa_column=Column(String, primary_key=True))
    series: str = Field(sa_column=Column(String, primary_key=True))
    bucket: int = Field(sa_column=Column(Integer, primary_key=True, autoincrement=False))
    n: int = Field(default=0, sa_column=_big())


class RollupErrorRow(SQLModel, table=True):
    """Errors of one kind; series is request or attempt."""

    __tablename__ = "rollup_error"

    minute: int = Field(sa_column=Column(BigInteger, primary_key=True))
    route: str = Field(sa_column=Column(String, primary_key=True))
    deployment: str = Field(sa_column=Column(String, primary_key=True))
    series: str = Field(sa_column=Column(String, primary_key=True))
    kind: str = Field(sa_column=Column(String, primary_key=True))
    n: int = Field(default=0, sa_column=_big())


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
