"""Routing rules: the first rule whose every condition holds rewrites the route a request
goes to (by the route asked for, user, tag, header or complexity)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from axtui.config import RuleConfig, RuleMatch


def _user_matches(pattern: str, user: str | None) -> bool:
    if user is None:
        return False
    if pattern.endswith("*"):
        return user.startswith(pattern[:-1])
    return pattern == user


def _matches(m: RuleMatch, requested: str, user: str | None, tags: Sequence[str],
             headers: Mapping[str, str], level: str) -> bool:
    return (
        (m.route is None or m.route == requested)
        and (m.tag is None or m.tag in tags)
        and (m.complexity is None or m.complexity == level)
        and (m.user is None or _user_matches(m.user, user))
        and all(headers.get(k.lower()) == v for k, v in m.header.items())
    )


def resolve_route(
    rules: Sequence[RuleConfig],
    requested: str,
    *,
    user: str | None,
    tags: Sequence[str],
    headers: Mapping[str, str],
    level: str,
) -> tuple[str, str]:
    """(route, reason): the first matching rule's route, or the one asked for."""
    for i, rule in enumerate(rules):
        if _matches(rule.match, requested, user, tags, headers, level):
            return rule.route, f"rule {i} → {rule.route}"
    return requested, ""
