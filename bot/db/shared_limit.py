"""The token buckets several processes share (`bot.core.ratelimit.SharedBudget`).

- `RedisBudget` (with `REDIS_URL`): one hash per bucket, changed by one Lua script, so
  taking a token is atomic and one round trip; times are the Redis server's clock.
- `PostgresBudget` (PostgreSQL without Redis): one row of `rate_buckets` per bucket,
  changed by one `UPDATE … RETURNING` under the row's lock; times are the database's
  clock (`clock_timestamp()`).

Both keep `tokens` (up to `burst`), the `stamp` of the last change and `paused`
(nobody takes a token before it); a bucket fills at `rate` tokens per second. A token
is taken only when more than `keep` are left over (a broadcast leaves some for replies).
`budget_for` picks one for the settings; SQLite has one process and needs none.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

PREFIX = "otandas:rate:"

_TAKE = """
local now = redis.call('TIME')
now = tonumber(now[1]) + tonumber(now[2]) / 1000000
local rate, burst, keep = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local b = redis.call('HMGET', KEYS[1], 'tokens', 'stamp', 'paused')
local tokens, stamp, paused = tonumber(b[1]) or burst, tonumber(b[2]) or now, tonumber(b[3]) or 0
if now < paused then
  return tostring(paused - now)
end
tokens = math.min(burst, tokens + math.max(0, now - math.max(stamp, paused)) * rate)
local wait = 0
if tokens >= 1 + keep then
  tokens = tokens - 1
else
  wait = (1 + keep - tokens) / rate
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'stamp', tostring(now),
           'paused', tostring(paused))
redis.call('EXPIRE', KEYS[1], 3600)
return tostring(wait)
"""

_PAUSE = """
local now = redis.call('TIME')
now = tonumber(now[1]) + tonumber(now[2]) / 1000000
local paused = tonumber(redis.call('HGET', KEYS[1], 'paused')) or 0
redis.call('HSET', KEYS[1], 'paused', tostring(math.max(paused, now + tonumber(ARGV[1]))),
           'tokens', '0', 'stamp', tostring(now))
redis.call('EXPIRE', KEYS[1], 3600)
return 1
"""


class RedisBudget:
    def __init__(self, url: str, prefix: str = PREFIX) -> None:
        from redis.asyncio import Redis  # only where Redis is configured

        self.redis: Any = Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)
        self.prefix = prefix
        self._take = self.redis.register_script(_TAKE)
        self._pause = self.redis.register_script(_PAUSE)

    async def take(self, key: str, rate: float, burst: float, keep: float) -> float:
        return float(await self._take(keys=[self.prefix + key], args=[rate, burst, keep]))

    async def pause(self, key: str, seconds: float) -> None:
        await self._pause(keys=[self.prefix + key], args=[seconds])

    async def close(self) -> None:
        await self.redis.aclose()


_NOW = "extract(epoch from clock_timestamp())::float8"
_PG_TAKE = text(f"""
WITH present AS (
    SELECT name, paused_until, {_NOW} AS at,
           LEAST(:burst, tokens + GREATEST(0, {_NOW} - GREATEST(stamp, paused_until))
                 * :rate) AS tokens
    FROM rate_buckets WHERE name = :name FOR UPDATE
)
UPDATE rate_buckets AS b
SET tokens = CASE WHEN p.at >= p.paused_until AND p.tokens >= 1 + :keep
                  THEN p.tokens - 1 ELSE p.tokens END,
    stamp = p.at
FROM present AS p WHERE b.name = p.name
RETURNING CASE WHEN p.at < p.paused_until THEN p.paused_until - p.at
               WHEN p.tokens >= 1 + :keep THEN 0.0
               ELSE (1 + :keep - p.tokens) / :rate END
""")
_PG_CREATE = text(f"""
INSERT INTO rate_buckets (name, tokens, stamp, paused_until)
VALUES (:name, :burst, {_NOW}, 0) ON CONFLICT (name) DO NOTHING
""")
_PG_PAUSE = text(f"""
UPDATE rate_buckets SET paused_until = GREATEST(paused_until, {_NOW} + :seconds),
                        tokens = 0, stamp = {_NOW}
WHERE name = :name
""")


class PostgresBudget:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self._known: set[str] = set()

    async def _create(self, key: str, burst: float) -> None:
        if key not in self._known:
            async with self.engine.begin() as connection:
                await connection.execute(_PG_CREATE, {"name": key, "burst": burst})
            self._known.add(key)

    async def take(self, key: str, rate: float, burst: float, keep: float) -> float:
        await self._create(key, burst)
        async with self.engine.begin() as connection:
            wait = (await connection.execute(_PG_TAKE, {
                "name": key, "rate": float(rate), "burst": float(burst),
                "keep": float(keep)})).scalar_one()
        return float(wait)

    async def pause(self, key: str, seconds: float) -> None:
        await self._create(key, 1.0)
        async with self.engine.begin() as connection:
            await connection.execute(_PG_PAUSE, {"name": key, "seconds": float(seconds)})

    async def close(self) -> None:
        pass


def budget_for(redis_url: str | None, engine: AsyncEngine) -> RedisBudget | PostgresBudget | None:
    """Redis when configured, else PostgreSQL's table, else (SQLite) none."""
    if redis_url:
        return RedisBudget(redis_url)
    if engine.dialect.name == "postgresql":
        return PostgresBudget(engine)
    return None
