"""Recorded records turned back into requests, in arrival order, for the engine.

A record keeps the request's shape, not (usually) its text: the prompt is rebuilt as
filler of the recorded size, with a reasoning hint when the record was judged complex, and
with the tools, JSON mode or image the record required, so routing rules, capability
filters and token estimates see what they saw. Arrival order: a trace is written in
completion order, so records wait in a heap until no earlier arrival can still come."""

from __future__ import annotations

import heapq
import itertools
import os
from collections.abc import Iterable, Iterator
from operator import attrgetter
from typing import Any, NamedTuple

import orjson

from axtui.engine.engine import RequestContext
from axtui.providers.base import ChatRequest
from axtui.providers.sim import filler_text
from axtui.records import RequestRecord
from axtui.traces.synthetic import _HARD, _TOOLS

# A record waits until the trace has passed its start by the longest request seen so far
# (+ REORDER_MARGIN_S, at most REORDER_S): memory is the rate times that many records. A
# request that lasted longer than any before it may arrive late (sent at once, counted).
REORDER_S = 120.0
REORDER_MARGIN_S = 5.0
_IMAGE = {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}}


class Shape(NamedTuple):
    """What a request needs of its record: the fields `request_of` and `arrivals` read."""

    id: str
    started_at: float
    ended_at: float
    requested_route: str
    max_tokens: int | None
    stream: bool
    user: str | None
    key_id: str | None
    tags: list[str]
    est_prompt_tokens: int
    complexity: str | None
    required_caps: list[str]
    messages: list[dict] | None


_shape_of = attrgetter(*Shape._fields)  # a record's Shape fields, as a tuple


class Tape:
    """Each record's Shape as one short JSON line in a file, written while the first pass
    reads the trace: the counterfactual pass reads these (~1 µs a line) instead of parsing
    the trace's records again (~20 µs). A file, not a list: memory stays flat."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = path
        self._f = open(path, "wb")  # noqa: SIM115 (closed by close(), after the first pass)

    def add(self, r: Any) -> None:
        """A record, as a model or as its fields read from its line."""
        self._f.write(orjson.dumps(_shape_of(r), option=orjson.OPT_APPEND_NEWLINE))

    def close(self) -> None:
        self._f.close()

    def __iter__(self) -> Iterator[Shape]:
        make, loads = Shape._make, orjson.loads
        with open(self.path, "rb") as f:
            for line in f:
                yield make(loads(line))


def request_of(r: RequestRecord | Shape) -> tuple[ChatRequest, RequestContext]:
    caps = set(r.required_caps)
    if r.messages:
        messages = [dict(m) for m in r.messages]
    else:
        text = filler_text(max(1, r.est_prompt_tokens - 12))
        if r.complexity == "complex":
            text = _HARD + text
        user: object = text
        if "vision" in caps:
            user = [{"type": "text", "text": text}, _IMAGE]
        messages = [{"role": "system", "content": "You are a concise assistant."},
                    {"role": "user", "content": user}]
    req = ChatRequest(
        messages=messages, model=r.requested_route, max_tokens=r.max_tokens,
        stream=r.stream or "streaming" in caps,
        tools=_TOOLS if "tools" in caps else None,
        response_format={"type": "json_object"} if "json" in caps else None,
        user=r.user, tags=list(r.tags))
    # the recorded id: flags that bucket by request bucket alike in every run
    return req, RequestContext(user=r.user, key_id=r.key_id, tags=list(r.tags),
                               request_id=r.id)


class Late:
    """Requests sent after their recorded start (they lasted longer than REORDER_S)."""

    def __init__(self) -> None:
        self.n = 0


def arrivals(records: Iterable[RequestRecord | Shape], start_mono: float, t0: float,
             late: Late | None = None) -> Iterator[tuple[float, ChatRequest, RequestContext]]:
    """(seconds on the replay's monotonic clock, request, context) in started_at order.
    `t0` is the trace time at monotonic `start_mono`."""
    heap: list[tuple[float, int, RequestRecord | Shape]] = []
    seq = itertools.count()
    emitted = -float("inf")
    longest = 0.0
    for r in records:
        longest = max(longest, r.ended_at - r.started_at)
        if r.started_at < emitted and late is not None:
            late.n += 1  # its turn has passed: it goes out next, at the time reached
        heapq.heappush(heap, (r.started_at, next(seq), r))
        horizon = r.ended_at - min(REORDER_S, longest + REORDER_MARGIN_S)
        while heap and heap[0][0] <= horizon:
            r0 = heapq.heappop(heap)[2]
            emitted = max(emitted, r0.started_at)
            yield _arrival(r0, start_mono, t0)
    while heap:
        yield _arrival(heapq.heappop(heap)[2], start_mono, t0)


def _arrival(r: RequestRecord | Shape, start_mono: float, t0: float):
    req, ctx = request_of(r)
    return start_mono + (r.started_at - t0), req, ctx
