"""Synthetic traffic for the demo, benchmarks and tests: a seeded mix of routes, users,
prompt sizes, streams and tool calls, arriving as a Poisson process in (virtual) time."""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass

from axtui.engine.engine import RequestContext
from axtui.providers.base import ChatRequest

_TOPICS = [
    "summarise this support ticket", "translate the release notes", "draft a reply to",
    "classify the sentiment of", "extract the dates from", "write a haiku about",
    "explain the error message", "suggest a title for",
]
_FILLER = (
    "The customer reports that the export job stalls at ninety percent and the log shows a "
    "retry loop against the storage API, with latency climbing over the afternoon. "
)
# the demo's chat-faq route: a help desk's questions, asked again, typed carelessly and
# reworded (0.84-0.91 from the question: most pass the route's semantic threshold, 0.85)
_FAQ = [
    ("How do I reset my password?", "how do i reset my password please"),
    ("What are your opening hours?",),
    ("Can I get a refund for my order?",),
    ("How do I change my delivery address?", "how can i change my delivery address"),
    ("Where is my parcel?", "where is my parcel now"),
    ("Do you ship to Canada?", "do you ship to canada too"),
    ("How do I cancel my subscription?", "how do I cancel my subscription plan"),
    ("What payment methods do you accept?",),
]
_HARD = "Think step by step and prove the algorithm is optimal; analyze the trade-offs. "
_TOOLS = [{
    "type": "function",
    "function": {
        "name": "lookup_order",
        "description": "Find an order by id",
        "parameters": {"type": "object", "properties": {"order_id": {"type": "string"}},
                       "required": ["order_id"]},
    },
}]


@dataclass(slots=True)
class Arrival:
    at_s: float  # seconds after the start
    request: ChatRequest
    ctx: RequestContext


def traffic(
    n: int,
    *,
    routes: dict[str, float],
    rate_per_s: float,
    seed: int = 0,
    users: int = 50,
    stream_share: float = 0.2,
    tools_share: float = 0.1,
) -> Iterator[Arrival]:
    """`n` requests over `routes` (name -> share), Poisson arrivals at `rate_per_s`."""
    rng = random.Random(seed)
    names, weights = list(routes), list(routes.values())
    t = 0.0
    for i in range(n):
        t += rng.expovariate(rate_per_s)
        route = rng.choices(names, weights)[0]
        # a few heavy users and a long tail, like real traffic
        user = f"user-{min(int(rng.paretovariate(1.2)), users) - 1:03d}"
        size = rng.choice((1, 1, 1, 2, 3, 8))
        prompt = f"{rng.choice(_TOPICS)} #{i}: " + _FILLER * size
        tags: list[str] = []
        if route == "chat-long":
            prompt = _FILLER * rng.randint(400, 1200)
        elif route == "chat-faq":
            phrasings = rng.choice(_FAQ)
            prompt = rng.choice((*phrasings, phrasings[0].lower().rstrip("?")))
        if rng.random() < 0.08:
            prompt = _HARD + prompt
        if rng.random() < 0.1:
            tags.append("batch")
        messages = [{"role": "system", "content": "You are a concise assistant."},
                    {"role": "user", "content": prompt}]
        req = ChatRequest(
            messages=messages,
            model=route,
            max_tokens=rng.choice((128, 256, 512)) if route != "chat-faq" else 256,
            temperature=0.0 if route == "chat-faq" else None,
            stream=rng.random() < stream_share,
            tools=_TOOLS if rng.random() < tools_share else None,
            user=user,
            tags=tags,
        )
        yield Arrival(t, req, RequestContext(user=user, tags=tags))
