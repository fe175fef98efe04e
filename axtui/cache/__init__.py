"""The response cache: exact and semantic, per route. See cache.py."""

from axtui.cache.backend import BackendStats, CacheBackend, MemoryBackend
from axtui.cache.cache import CLEAR_PREFIX, CacheNote, ResponseCache, RouteCache

__all__ = ["CLEAR_PREFIX", "BackendStats", "CacheBackend", "CacheNote", "MemoryBackend",
           "ResponseCache", "RouteCache"]
