"""The token buckets several processes share (`bot.core.ratelimit.SharedBudget`).

- `RedisBudget` (with `REDIS_URL`): one hash per bucket, changed by one Lua script, so
  taking a token is atomic and one round trip; times are the Redis server's clock.
- `PostgresBudget` (PostgreSQL without Redis): one row of `rate_buckets` per bucket,
  changed by one `UPDATE … RETURNING` under the row's lock; times are the database's
  clock (`clock_timestamp()`).

Both keep `tokens` (up to `burst`), the `stamp` of the last change and `paused`
(nobody takes a token before it); a bucket fills at `rate` tokens per second, times its
`Pace`. A token is taken only when more than `keep` are left over (a broadcast leaves
some for replies): at once when a whole one is there, else the one filling is reserved
(the bucket goes below `keep`) and the `Grant` says when it is full; while another
process holds that reservation, the answer is when to ask again. So the turns follow
one another at the rate's exact spacing however late the processes ask, and a sender
that asks late never catches up with a burst. `budget_for` picks one for the
settings; SQLite has one process and needs none.

The pace slows down after a 429 and climbs back slowly (`Pace`: the arithmetic, in
Python for the one process's own limiter and the tests; the Lua script and the SQL
below do the same with the same constants), so every process sending through the
bucket slows down together.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NamedTuple

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

PREFIX = "otandas:rate:"

# A 429 pauses the bucket for its `retry_after`, and its pace stays quiet (no climbing)
# for QUIET seconds more. A lone 429 (none in the REPEAT seconds before: a request held
# up on its way by a busy machine) costs no more than that. A 429 that follows another
# one within REPEAT seconds of its quiet spell (the first one of a pause: the others of
# the same burst count once) means the pace itself is too fast: it drops to CUT of what
# it was, and the most it climbs back to (its ceiling) to CEILING_CUT of it; never below
# FLOOR. After the quiet spell the pace climbs back by CLIMB per second up to its
# ceiling, and the ceiling by CEILING_CLIMB per second up to the configured rate (1.0),
# so a calmer machine gets its rate back (from 0.9 within about a quarter of an hour).
REPEAT = 60.0
CUT = 0.9
CEILING_CUT = 0.98
FLOOR = 0.5
QUIET = 5.0
CLIMB = 0.01
CEILING_CLIMB = 0.0001


class Grant(NamedTuple):
    """A shared bucket's answer: `granted`, the turn is `wait` seconds from now (0.0:
    now); else ask again in `wait` seconds."""

    granted: bool
    wait: float


@dataclass
class Pace:
    """The share of the configured rate a bucket allows (`factor`), and how it slows
    down after a 429 and climbs back; all times in seconds on one clock."""

    factor: float = 1.0
    ceiling: float = 1.0
    calm: float = -REPEAT  # climbing resumes then (the last 429's pause + QUIET)
    stamp: float = 0.0  # climbed up to then

    def at(self, now: float) -> float:
        """The pace at `now` (climbed since the last call)."""
        quiet = max(0.0, now - max(self.stamp, self.calm))
        self.ceiling = min(1.0, self.ceiling + quiet * CEILING_CLIMB)
        self.factor = min(self.ceiling, self.factor + quiet * CLIMB)
        self.stamp = max(self.stamp, now)
        return self.factor

    def cut(self, now: float, seconds: float, paused: bool) -> None:
        """A 429 at `now` with its `retry_after` (`seconds`); `paused`: the bucket is
        paused already (a 429 of the same burst, counted once)."""
        self.at(now)
        if not paused and now < self.calm + REPEAT:
            self.ceiling = max(FLOOR, self.factor * CEILING_CUT)
            self.factor = max(FLOOR, self.factor * CUT)
        self.calm = max(self.calm, now + seconds + QUIET)


def _constants(script: str) -> str:
    for name, value in (("CEILING_CLIMB", CEILING_CLIMB), ("CEILING_CUT", CEILING_CUT),
                        ("CLIMB", CLIMB), ("CUT", CUT), ("FLOOR", FLOOR), ("QUIET", QUIET),
                        ("REPEAT", REPEAT)):
        script = script.replace(f"@{name}@", repr(float(value)))
    return script


# The bucket as it is now, its pace climbed since the last change (`Pace.at`).
_PRESENT = """
local now = redis.call('TIME')
now = tonumber(now[1]) + tonumber(now[2]) / 1000000
local b = redis.call('HMGET', KEYS[1], 'tokens', 'stamp', 'paused', 'factor', 'ceiling', 'calm')
local tokens, stamp, paused = tonumber(b[1]), tonumber(b[2]) or now, tonumber(b[3]) or 0
local factor, ceiling, calm = tonumber(b[4]) or 1, tonumber(b[5]) or 1, tonumber(b[6]) or 0
local quiet = math.max(0, now - math.max(stamp, calm))
ceiling = math.min(1, ceiling + quiet * @CEILING_CLIMB@)
factor = math.min(ceiling, factor + quiet * @CLIMB@)
"""
_SAVE = """
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'stamp', tostring(now),
           'paused', tostring(paused), 'factor', tostring(factor),
           'ceiling', tostring(ceiling), 'calm', tostring(calm))
redis.call('EXPIRE', KEYS[1], 3600)
"""

_TAKE = _constants(_PRESENT + """
local rate, burst, keep = tonumber(ARGV[1]) * factor, tonumber(ARGV[2]), tonumber(ARGV[3])
tokens = tokens or burst
if now < paused then
  return {0, tostring(paused - now)}
end
tokens = math.min(burst, tokens + math.max(0, now - math.max(stamp, paused)) * rate)
local granted, wait = 1, 0
if tokens >= 1 + keep then
  tokens = tokens - 1
elseif tokens >= keep then
  wait = (1 + keep - tokens) / rate
  tokens = tokens - 1
else
  granted, wait = 0, (keep - tokens) / rate
end
""" + _SAVE + """
return {granted, tostring(wait)}
""")

_PAUSE = _constants(_PRESENT + """
local seconds = tonumber(ARGV[1])
if now >= paused and now < calm + @REPEAT@ then
  ceiling = math.max(@FLOOR@, factor * @CEILING_CUT@)
  factor = math.max(@FLOOR@, factor * @CUT@)
end
calm = math.max(calm, now + seconds + @QUIET@)
paused = math.max(paused, now + seconds)
tokens = 0
""" + _SAVE + """
return 1
""")

_PACE = "return redis.call('HGET', KEYS[1], 'factor') or '1'"


class RedisBudget:
    def __init__(self, url: str, prefix: str = PREFIX) -> None:
        from redis.asyncio import Redis  # only where Redis is configured

        self.redis: Any = Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)
        self.prefix = prefix
        self._take = self.redis.register_script(_TAKE)
        self._pause = self.redis.register_script(_PAUSE)
        self._pace = self.redis.register_script(_PACE)

    async def take(self, key: str, rate: float, burst: float, keep: float) -> Grant:
        granted, wait = await self._take(keys=[self.prefix + key], args=[rate, burst, keep])
        return Grant(bool(granted), float(wait))

    async def pause(self, key: str, seconds: float) -> None:
        await self._pause(keys=[self.prefix + key], args=[seconds])

    async def pace(self, key: str) -> float:
        """The bucket's pace (its `Pace.factor`) as of its last change."""
        return float(await self._pace(keys=[self.prefix + key]))

    async def close(self) -> None:
        await self.redis.aclose()


_NOW = "extract(epoch from clock_timestamp())::float8"
# The row as it is now, its pace climbed since the last change (`Pace.at`).
_PG_PRESENT = f"""
WITH locked AS (
    SELECT *, {_NOW} AS at FROM rate_buckets WHERE name = :name FOR UPDATE
), climbed AS (
    SELECT *, LEAST(1.0, ceiling + GREATEST(0, at - GREATEST(stamp, calm))
                         * @CEILING_CLIMB@) AS top
    FROM locked
), present AS (
    SELECT *, LEAST(top, factor + GREATEST(0, at - GREATEST(stamp, calm)) * @CLIMB@) AS pace
    FROM climbed
)"""
_PG_TAKE = text(_constants(_PG_PRESENT + """, refilled AS (
    SELECT name, at, paused_until, top, pace,
           LEAST(:burst, tokens + GREATEST(0, at - GREATEST(stamp, paused_until))
                 * :rate * pace) AS tokens
    FROM present
)
UPDATE rate_buckets AS b
SET tokens = CASE WHEN p.at >= p.paused_until AND p.tokens >= :keep
                  THEN p.tokens - 1 ELSE p.tokens END,
    stamp = p.at, factor = p.pace, ceiling = p.top
FROM refilled AS p WHERE b.name = p.name
RETURNING p.at >= p.paused_until AND p.tokens >= :keep,
          CASE WHEN p.at < p.paused_until THEN p.paused_until - p.at
               WHEN p.tokens >= 1 + :keep THEN 0.0
               WHEN p.tokens >= :keep THEN (1 + :keep - p.tokens) / (:rate * p.pace)
               ELSE (:keep - p.tokens) / (:rate * p.pace) END
"""))
_PG_CREATE = text(f"""
INSERT INTO rate_buckets (name, tokens, stamp, paused_until, factor, ceiling, calm)
VALUES (:name, :burst, {_NOW}, 0, 1, 1, 0) ON CONFLICT (name) DO NOTHING
""")
_PG_PAUSE = text(_constants(_PG_PRESENT + """
UPDATE rate_buckets AS b
SET paused_until = GREATEST(p.paused_until, p.at + :seconds), tokens = 0, stamp = p.at,
    factor = CASE WHEN p.at >= p.paused_until AND p.at < p.calm + @REPEAT@
                  THEN GREATEST(@FLOOR@, p.pace * @CUT@) ELSE p.pace END,
    ceiling = CASE WHEN p.at >= p.paused_until AND p.at < p.calm + @REPEAT@
                   THEN GREATEST(@FLOOR@, p.pace * @CEILING_CUT@) ELSE p.top END,
    calm = GREATEST(p.calm, p.at + :seconds + @QUIET@)
FROM present AS p WHERE b.name = p.name
"""))
_PG_PACE = text("SELECT factor FROM rate_buckets WHERE name = :name")


class PostgresBudget:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        # A take is one statement in a transaction of its own: one round trip (not
        # BEGIN, UPDATE, COMMIT), so the turn is as fresh as the answer.
        self._autocommit = engine.execution_options(isolation_level="AUTOCOMMIT")
        self._known: set[str] = set()

    async def _create(self, key: str, burst: float) -> None:
        if key not in self._known:
            async with self.engine.begin() as connection:
                await connection.execute(_PG_CREATE, {"name": key, "burst": burst})
            self._known.add(key)

    async def take(self, key: str, rate: float, burst: float, keep: float) -> Grant:
        await self._create(key, burst)
        async with self._autocommit.connect() as connection:
            granted, wait = (await connection.execute(_PG_TAKE, {
                "name": key, "rate": float(rate), "burst": float(burst),
                "keep": float(keep)})).one()
        return Grant(bool(granted), float(wait))

    async def pause(self, key: str, seconds: float) -> None:
        await self._create(key, 1.0)
        async with self.engine.begin() as connection:
            await connection.execute(_PG_PAUSE, {"name": key, "seconds": float(seconds)})

    async def pace(self, key: str) -> float:
        """The bucket's pace (its `Pace.factor`) as of its last change."""
        async with self.engine.connect() as connection:
            factor = (await connection.execute(_PG_PACE, {"name": key})).scalar_one_or_none()
        return 1.0 if factor is None else float(factor)

    async def close(self) -> None:
        pass


def budget_for(redis_url: str | None, engine: AsyncEngine) -> RedisBudget | PostgresBudget | None:
    """Redis when configured, else PostgreSQL's table, else (SQLite) none."""
    if redis_url:
        return RedisBudget(redis_url)
    if engine.dialect.name == "postgresql":
        return PostgresBudget(engine)
    return None
