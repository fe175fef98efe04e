"""`axtui cache clear` through the control plane: a versioned entry per route (or "*")
that every engine sharing the store applies within one poll (ResponseCache.apply_control),
audited in the event log like drains."""

from __future__ import annotations

from typing import TYPE_CHECKING

from axtui.cache.cache import CLEAR_PREFIX

if TYPE_CHECKING:
    from axtui.store.db import Store

EVERY_ROUTE = "*"


def clear(store: Store, route: str | None, by: str) -> int:
    """Clear `route`'s cache (None: every route's) in every engine; the control version."""
    subject = route or EVERY_ROUTE
    now = store.clock.now()
    version = store.set_control(CLEAR_PREFIX + subject, {"by": by, "at": now}, by=by)
    what = f"route {route}" if route else "every route"
    store.add_event("cache_clear", subject,
                    {"by": by, "summary": f"response cache of {what} cleared by {by}"}, ts=now)
    return version
