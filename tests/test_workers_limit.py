"""The rate limit shared by several processes: the token bucket in Redis (TEST_REDIS_URL)
and in PostgreSQL (TEST_POSTGRES_URL), each skipped when its server is not given."""

from __future__ import annotations

import asyncio
import json
import os
import sys
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from prometheus_client import REGISTRY
from sqlalchemy.ext.asyncio import create_async_engine

from bot.app import App
from bot.core.ratelimit import BROADCAST, FRESH, INTERACTIVE, PUSH, PriorityLimiter
from bot.db.shared_limit import (
    CEILING_CLIMB,
    CEILING_CUT,
    CLIMB,
    CUT,
    FLOOR,
    QUIET,
    REPEAT,
    Grant,
    Pace,
    PostgresBudget,
    RedisBudget,
    budget_for,
)

PROJECT_DIR = Path(__file__).resolve().parent.parent
REDIS_URL = os.environ.get("TEST_REDIS_URL", "").strip()
needs_redis = pytest.mark.skipif(not REDIS_URL, reason="TEST_REDIS_URL is not set")

# One process taking turns as fast as it is given them; prints their times.
WORKER = """
import asyncio, json, sys, time
from bot.core.ratelimit import PriorityLimiter, BROADCAST
from bot.db.shared_limit import RedisBudget, PostgresBudget
from sqlalchemy.ext.asyncio import create_async_engine

async def main(kind, url, key, rate, seconds, start_at):
    budget = RedisBudget(url, prefix="") if kind == "redis" else \\
        PostgresBudget(create_async_engine(url))
    limiter = PriorityLimiter(rate, burst=1.0, shared=budget, key=key)
    await budget.take(key, rate, 2.0, 5.0)  # connected (a wait, nothing taken)
    await asyncio.sleep(max(0.0, start_at - time.time()))
    times = []
    while time.time() < start_at + seconds:
        await limiter.acquire(BROADCAST)
        times.append(time.time())
    print(json.dumps(times))

asyncio.run(main(sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4]),
                 float(sys.argv[5]), float(sys.argv[6])))
"""


async def two_processes(kind: str, url: str, key: str, rate: float,
                        seconds: float) -> list[float]:
    import time

    start_at = time.time() + 3.0  # both started and connected by then
    processes = [await asyncio.create_subprocess_exec(
        sys.executable, "-c", WORKER, kind, url, key, str(rate), str(seconds), str(start_at),
        cwd=PROJECT_DIR, stdout=asyncio.subprocess.PIPE) for _ in range(2)]
    outputs = [await process.communicate() for process in processes]
    assert all(process.returncode == 0 for process in processes)
    times = [sorted(json.loads(out.decode())) for out, _ in outputs]
    assert all(times), "each process got turns"
    return sorted(times[0] + times[1])


def busiest_second(times: list[float]) -> int:
    most, first = 0, 0
    for last, at in enumerate(times):
        while times[first] <= at - 1.0:
            first += 1
        most = max(most, last - first + 1)
    return most


@pytest.fixture
async def redis_budget() -> AsyncIterator[RedisBudget]:
    budget = RedisBudget(REDIS_URL, prefix=f"test:{uuid.uuid4().hex[:8]}:")
    try:
        yield budget
    finally:
        keys = [key async for key in budget.redis.scan_iter(match=f"{budget.prefix}*")]
        if keys:
            await budget.redis.delete(*keys)
        await budget.close()


async def check_bucket(budget: RedisBudget | PostgresBudget) -> None:
    # A full bucket of 3: a broadcast leaves one token for replies.
    assert await budget.take("t", 10.0, 3.0, 1.0) == (True, 0.0)
    assert await budget.take("t", 10.0, 3.0, 1.0) == (True, 0.0)
    # The token filling is reserved: granted, in a tenth of a second at 10/s.
    granted, wait = await budget.take("t", 10.0, 3.0, 1.0)
    assert granted and 0.0 < wait <= 0.1 + 1e-6
    # The next one is not: ask again when that turn has passed.
    granted, wait = await budget.take("t", 10.0, 3.0, 1.0)
    assert not granted and 0.0 < wait <= 0.1 + 1e-6
    # A reply reserves from the reserve, then waits its turn too.
    granted, wait = await budget.take("t", 10.0, 3.0, 0.0)
    assert granted and 0.0 < wait <= 0.1 + 1e-6
    granted, wait = await budget.take("t", 10.0, 3.0, 0.0)
    assert not granted and 0.0 < wait <= 0.1 + 1e-6
    # A 429 seen by one process: nobody takes a token until it has passed.
    await budget.pause("t", 2.0)
    granted, wait = await budget.take("t", 10.0, 3.0, 0.0)
    assert not granted and 1.5 < wait <= 2.0
    assert await budget.take("other", 10.0, 3.0, 0.0) == (True, 0.0)  # buckets are apart


def test_a_lone_429_pauses_without_slowing_the_pace() -> None:
    pace = Pace(stamp=100.0)
    assert pace.at(110.0) == 1.0  # never above the configured rate
    pace.cut(110.0, 1.0, paused=False)  # no 429 before: a request held up on its way
    assert (pace.factor, pace.ceiling) == (1.0, 1.0)
    # Lone again once REPEAT seconds have passed after its quiet spell.
    pace.cut(110.0 + 1.0 + QUIET + REPEAT + 0.1, 1.0, paused=False)
    assert (pace.factor, pace.ceiling) == (1.0, 1.0)


def test_a_repeated_429_slows_the_pace_which_climbs_back_after_a_quiet_spell() -> None:
    pace = Pace(stamp=100.0)
    pace.cut(110.0, 1.0, paused=False)
    pace.cut(110.0 + 1.0 + QUIET + REPEAT - 0.1, 1.0, paused=False)  # the pace is too fast
    assert pace.factor == pytest.approx(CUT)
    assert pace.ceiling == pytest.approx(CEILING_CUT)
    second = 110.0 + 1.0 + QUIET + REPEAT - 0.1
    pace.cut(second + 0.2, 1.0, paused=True)  # another 429 of the same burst counts once
    assert pace.factor == pytest.approx(CUT)
    # Nothing climbs during the pause and the quiet spell after it.
    calm = second + 0.2 + 1.0 + QUIET
    assert pace.at(calm) == pytest.approx(CUT)
    assert pace.at(calm + 2.0) == pytest.approx(CUT + 2.0 * CLIMB)
    # Up to the ceiling (itself climbing slowly), not to the configured rate.
    later = calm + (CEILING_CUT - CUT) / CLIMB + 10.0
    assert pace.at(later) == pytest.approx(CEILING_CUT + (later - calm) * CEILING_CLIMB)
    assert pace.at(later + 1e6) == 1.0


def test_repeated_429s_cut_the_pace_down_to_the_floor() -> None:
    pace = Pace()
    for second in range(60):
        pace.cut(float(second * 2), 1.0, paused=False)
    assert pace.factor == FLOOR and pace.ceiling == FLOOR


async def check_pace(budget: RedisBudget | PostgresBudget) -> None:
    # Every process reads the same pace: a 429 in one slows all of them.
    assert await budget.take("p", 10.0, 3.0, 0.0) == (True, 0.0)
    assert await budget.pace("p") == 1.0
    await budget.pause("p", 0.3)  # a lone 429: a pause, the pace as it was
    assert await budget.pace("p") == 1.0
    await asyncio.sleep(0.4)
    await budget.pause("p", 0.3)  # another one: the pace is too fast
    assert await budget.pace("p") == pytest.approx(CUT)
    await budget.pause("p", 0.3)  # the same burst: counted once
    assert await budget.pace("p") == pytest.approx(CUT)
    await asyncio.sleep(0.4)
    await budget.pause("p", 0.3)  # a 429 after the pause: slower again
    assert await budget.pace("p") == pytest.approx(CUT * CUT)
    await asyncio.sleep(0.4)
    # Still in the quiet spell: the pace holds, and the wait for a token is longer.
    assert (await budget.take("p", 10.0, 3.0, 0.0)).wait > 0.0
    assert await budget.pace("p") == pytest.approx(CUT * CUT)


@needs_redis
async def test_the_redis_bucket_keeps_rate_reserve_pause_and_pace(
        redis_budget: RedisBudget) -> None:
    await check_bucket(redis_budget)
    await check_pace(redis_budget)


async def test_the_postgresql_bucket_keeps_rate_reserve_pause_and_pace(app: App) -> None:
    if app.db.dialect.name != "postgresql":
        pytest.skip("the table's bucket is PostgreSQL's")
    await check_bucket(PostgresBudget(app.db))
    await check_pace(PostgresBudget(app.db))


async def test_the_budget_follows_the_settings(app: App) -> None:
    budget = budget_for(None, app.db)
    if app.db.dialect.name == "postgresql":
        assert isinstance(budget, PostgresBudget)
    else:
        assert budget is None  # SQLite: one process, the limiter of its own
    redis = budget_for("redis://127.0.0.1:1/0", app.db)
    assert isinstance(redis, RedisBudget)
    await redis.close()


async def test_an_unreachable_shared_bucket_leaves_the_process_at_its_own_rate() -> None:
    budget = RedisBudget("redis://127.0.0.1:1/0")  # nothing listens there
    limiter = PriorityLimiter(50.0, burst=1.0, shared=budget, key="k")
    try:
        await asyncio.wait_for(asyncio.gather(*(limiter.acquire(INTERACTIVE)
                                                for _ in range(5))), 10)
        limiter.pause(0.01)
        await asyncio.wait_for(limiter.acquire(BROADCAST), 10)
    finally:
        await budget.close()


@needs_redis
async def test_two_processes_never_go_over_the_redis_rate(redis_budget: RedisBudget) -> None:
    times = await two_processes("redis", REDIS_URL, f"{redis_budget.prefix}two", 20.0, 3.0)
    # The bucket holds 2 tokens (1 + the reserve a broadcast leaves): at most 20 + 1
    # in any second; together, nearly the rate (each alone would take 20/s).
    assert busiest_second(times) <= 21
    assert len(times) >= 20 * 3 * 0.8


async def test_two_processes_never_go_over_the_postgresql_rate(database_url: str) -> None:
    if not database_url.startswith("postgresql"):
        pytest.skip("the table's bucket is PostgreSQL's")
    engine = create_async_engine(database_url)
    async with engine.begin() as connection:
        from bot.db.models import Base

        await connection.run_sync(Base.metadata.create_all)
    await engine.dispose()
    times = await two_processes("postgresql", database_url, "two", 20.0, 3.0)
    assert busiest_second(times) <= 21
    assert len(times) >= 20 * 3 * 0.8


class ScriptedBudget:
    """A shared bucket answering from a script: (seconds before answering, Grant)."""

    def __init__(self, answers: list[tuple[float, Grant]]) -> None:
        self.answers = answers
        self.asked: list[tuple[float, float]] = []  # (when, keep)

    async def take(self, key: str, rate: float, burst: float, keep: float) -> Grant:
        import time

        self.asked.append((time.monotonic(), keep))
        delay, grant = self.answers.pop(0) if self.answers else (0.0, Grant(True, 0.0))
        await asyncio.sleep(delay)
        return grant

    async def pause(self, key: str, seconds: float) -> None:
        pass


def dropped(key: str) -> float:
    value = REGISTRY.get_sample_value("bot_rate_turns_dropped_total", {"limit": key})
    return value or 0.0


async def test_a_reserved_turn_is_waited_for_without_asking_again() -> None:
    import time

    budget = ScriptedBudget([(0.0, Grant(True, 0.15))])
    limiter = PriorityLimiter(100.0, burst=5.0, shared=budget, key="reserved")
    started = time.monotonic()
    await limiter.acquire(BROADCAST)
    assert time.monotonic() - started >= 0.15
    assert len(budget.asked) == 1  # the slot was this process's: no second question


async def test_a_turn_granted_too_long_ago_is_dropped_and_asked_again() -> None:
    # The bucket's answer took longer than FRESH (a stalled process): the turn may be
    # that old when the request leaves, so it is not used.
    budget = ScriptedBudget([(FRESH * 3, Grant(True, 0.0)), (0.0, Grant(True, 0.0))])
    limiter = PriorityLimiter(100.0, burst=5.0, shared=budget, key="stale")
    before = dropped("stale")
    await limiter.acquire(BROADCAST)
    assert len(budget.asked) == 2
    assert dropped("stale") == before + 1
    # A turn the sender takes up late is dropped the same way.
    asked = await limiter.acquire(BROADCAST)
    await asyncio.sleep(FRESH * 2)
    assert not limiter.fresh(asked)
    assert dropped("stale") == before + 2
    assert limiter.fresh(await limiter.acquire(BROADCAST))


async def test_without_a_shared_bucket_every_turn_is_fresh() -> None:
    limiter = PriorityLimiter(100.0, burst=5.0)
    asked = await limiter.acquire(INTERACTIVE)
    await asyncio.sleep(FRESH * 2)
    assert limiter.fresh(asked)  # one process: nobody else's turns to crowd


async def test_pushes_leave_the_reserve_and_go_between_replies_and_broadcasts() -> None:
    budget = ScriptedBudget([])
    limiter = PriorityLimiter(1000.0, burst=1.0, shared=budget, key="order")
    await limiter.acquire(INTERACTIVE)  # the first turn, so the others queue
    order: list[str] = []

    async def one(name: str, priority: int) -> None:
        await limiter.acquire(priority)
        order.append(name)

    await asyncio.gather(one("broadcast", BROADCAST), one("push", PUSH),
                         one("reply", INTERACTIVE))
    assert order == ["reply", "push", "broadcast"]
    # Replies may take the reserve; a push and a broadcast leave it.
    assert [keep for _, keep in budget.asked] == [0.0, 0.0, 1.0, 1.0]
