"""The response cache's shared backend: one route's answers in Redis, seen by every process
of the fleet, each with its TTL, bounded in entries and bytes (least recently used out
first), every operation one atomic script. While Redis is away the route's in-process
MemoryBackend answers (misses for what only Redis had; nothing fails).

Per route under `{prefix}:cache:{route}:`: `e:{key}` a hash of the value and its expiry
(engine-clock wall time; Redis also expires it on its own TTL), `lru` a sorted set of keys
by last use, `size` each key's bytes, `bytes` their sum, `stats` evictions and expirations.
"""

from __future__ import annotations

import logging

from axtui.cache.backend import BackendStats, CacheBackend
from axtui.clock import Clock
from axtui.fleet.link import RedisLink, Unavailable

log = logging.getLogger(__name__)

_COMMON = """
local base = ARGV[1]
local lru, sizes, total, stats = base .. 'lru', base .. 'size', base .. 'bytes', base .. 'stats'
local function drop(key, why)
  local size = tonumber(redis.call('HGET', sizes, key) or '0')
  redis.call('DEL', base .. 'e:' .. key)
  redis.call('ZREM', lru, key)
  redis.call('HDEL', sizes, key)
  redis.call('DECRBY', total, size)
  if why then redis.call('HINCRBY', stats, why, 1) end
end
local function counts()
  local s = redis.call('HMGET', stats, 'evictions', 'expirations')
  return {redis.call('ZCARD', lru), tonumber(redis.call('GET', total) or '0'),
          tonumber(s[1] or '0'), tonumber(s[2] or '0')}
end
"""

# ARGV: base, key, now. Returns {value or false, entries, bytes, evictions, expirations}.
GET = _COMMON + """
local key, now = ARGV[2], tonumber(ARGV[3])
local e = redis.call('HMGET', base .. 'e:' .. key, 'v', 'x')
local value = false
if e[1] then
  if tonumber(e[2]) > now then
    value = e[1]
    redis.call('ZADD', lru, now, key)
  else
    drop(key, 'expirations')
  end
elseif redis.call('ZSCORE', lru, key) then
  drop(key, 'expirations')
end
local c = counts()
return {value, c[1], c[2], c[3], c[4]}
"""

# ARGV: base, key, value, expires (wall), ttl ms, now, max entries, max bytes.
PUT = _COMMON + """
local key, value, now = ARGV[2], ARGV[3], tonumber(ARGV[6])
local max_entries, max_bytes = tonumber(ARGV[7]), tonumber(ARGV[8])
if redis.call('HEXISTS', sizes, key) == 1 then drop(key, nil) end
redis.call('HSET', base .. 'e:' .. key, 'v', value, 'x', ARGV[4])
redis.call('PEXPIRE', base .. 'e:' .. key, ARGV[5])
redis.call('ZADD', lru, now, key)
redis.call('HSET', sizes, key, #value)
redis.call('INCRBY', total, #value)
-- expired entries at the least recently used end leave first, as expirations
while true do
  local oldest = redis.call('ZRANGE', lru, 0, 0)[1]
  if not oldest or oldest == key then break end
  local x = redis.call('HGET', base .. 'e:' .. oldest, 'x')
  if x and tonumber(x) > now then break end
  drop(oldest, 'expirations')
end
while redis.call('ZCARD', lru) > max_entries
      or tonumber(redis.call('GET', total) or '0') > max_bytes do
  local oldest = redis.call('ZRANGE', lru, 0, 0)[1]
  if not oldest then break end
  drop(oldest, 'evictions')
end
return counts()
"""

DELETE = _COMMON + """
local had = redis.call('ZSCORE', lru, ARGV[2])
drop(ARGV[2], nil)
if had then return 1 end
return 0
"""

CLEAR = _COMMON + """
local keys = redis.call('ZRANGE', lru, 0, -1)
for _, key in ipairs(keys) do redis.call('DEL', base .. 'e:' .. key) end
redis.call('DEL', lru, sizes, total)
return #keys
"""


class RedisBackend:
    """CacheBackend over Redis for one route; `local` answers while Redis is away."""

    def __init__(self, link: RedisLink, clock: Clock, *, route: str, max_entries: int,
                 max_bytes: int, local: CacheBackend) -> None:
        self.link = link
        self.clock = clock
        self.base = link.key("cache", route) + ":"
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self.local = local
        c = link.aclient
        self._get, self._put = c.register_script(GET), c.register_script(PUT)
        self._delete, self._clear = c.register_script(DELETE), c.register_script(CLEAR)
        self._stats = BackendStats()
        self.too_big = 0  # answers larger than the whole byte limit: never stored

    async def get(self, key: str) -> bytes | None:
        try:
            out = await self.link.acall(lambda c: self._get(
                args=[self.base, key, repr(self.clock.now())], client=c))
        except Unavailable:
            return await self.local.get(key)
        self._remember(out[1:])
        return out[0] or None

    async def put(self, key: str, value: bytes, ttl_s: float) -> None:
        if len(value) > self.max_bytes:
            self.too_big += 1
            self._stats.evictions += 1
            return
        now = self.clock.now()
        try:
            out = await self.link.acall(lambda c: self._put(
                args=[self.base, key, value, repr(now + ttl_s), max(1, int(ttl_s * 1000)),
                      repr(now), self.max_entries, self.max_bytes], client=c))
        except Unavailable:
            await self.local.put(key, value, ttl_s)
            return
        self._remember(out)

    async def delete(self, key: str) -> bool:
        try:
            return bool(await self.link.acall(lambda c: self._delete(args=[self.base, key],
                                                                     client=c)))
        except Unavailable:
            return await self.local.delete(key)

    async def clear(self) -> int:
        n = await self.local.clear()
        try:
            n = int(await self.link.acall(lambda c: self._clear(args=[self.base], client=c)))
        except Unavailable:
            log.warning("cache %s cleared in this process only: redis is down", self.base)
            return n
        self._stats.entries = self._stats.bytes = 0
        return n

    def stats(self) -> BackendStats:
        """The shared counts as of this process's last call (the local ones while down)."""
        if not self.link.up:
            return self.local.stats()
        return self._stats

    def _remember(self, counts: list) -> None:
        s = self._stats
        s.entries, s.bytes = int(counts[0]), int(counts[1])
        s.evictions = int(counts[2]) + self.too_big
        s.expirations = int(counts[3])
