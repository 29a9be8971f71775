"""One rate limit per platform, shared by everything that sends, with priorities.

Replies to users (`INTERACTIVE`), messages the bot starts (`PUSH`: reminders, notices)
and broadcast messages (`BROADCAST`) take their turns from the same budget of `rate`
messages per second; whenever several wait, the reply goes first, then the push, so a
running broadcast never slows a conversation down. `pause` (a 429's `retry_after`)
stops every sender of the platform until it has passed.

Several processes share one platform's limit through a `SharedBudget` (a token bucket
in Redis or PostgreSQL, `bot/db/shared_limit.py`, given by the composition root): a
turn granted here also takes a token from the shared bucket, or reserves the next one
and waits for it, so the turns of all processes follow one another at the rate's
spacing. A pause is written there too: a 429 stops every process, and a second one
within a minute slows the bucket's pace for all of them (`bot.db.shared_limit.Pace`:
×0.9, climbing back slowly after a quiet spell, never above `rate`). This process's
own bucket slows down the same way after the 429s it gets. Replies keep their lead
across processes: a push or a broadcast takes a shared token only while `RESERVE`
tokens are left over for replies. When the shared bucket cannot be reached, this
process goes on at its own `rate` (and says so once).

A shared turn is good for `FRESH` seconds. The platform counts requests when they
arrive: a process that stalls (a busy machine) between the bucket's grant and its
request would send it next to the turns the other processes were granted meanwhile,
more than `rate` in a second. A turn older than that (its grant's round trip was slow,
or the sender resumed late) is dropped, its slot left empty, and the sender asks again.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
import logging
import time
from typing import Protocol

from bot.core import metrics
from bot.db.shared_limit import Grant, Pace

INTERACTIVE = 0
PUSH = 1
BROADCAST = 2
# Shared tokens a push or a broadcast message leaves in the bucket for replies.
RESERVE = 1.0
# Above the reserve the shared bucket holds one token up to 50 messages/s, a 50th of a
# second's worth above: a sender that asks late cannot catch up with a burst, so the
# processes together never take more than `rate` (plus a reply) in any second.
SHARED_BURST = 1.0
# How long a shared turn stays good (seconds): see above.
FRESH = 0.02

log = logging.getLogger(__name__)


class SharedBudget(Protocol):
    """One token bucket per `key`, shared by every process (all times in seconds)."""

    async def take(self, key: str, rate: float, burst: float, keep: float) -> Grant:
        """Take a token when more than `keep` are left over, or reserve the one filling:
        granted, with the wait until it is there (0.0: now); else not granted, with how
        long to wait before asking again (also while the bucket is paused)."""
        ...

    async def pause(self, key: str, seconds: float) -> None:
        """Nobody takes a token of `key` for `seconds` from now."""
        ...


class PriorityLimiter:
    """A token bucket of `burst` tokens refilled at `rate` per second; waiters are served
    by priority (lower first), then in arrival order."""

    def __init__(self, rate: float, burst: float = 1.0, *, shared: SharedBudget | None = None,
                 key: str = "") -> None:
        self.rate = rate
        self.burst = max(1.0, burst)
        self.shared = shared
        self.key = key
        self._shared_down = False
        self._pausing: set[asyncio.Task[None]] = set()
        self._tokens = self.burst
        self._stamp = time.monotonic()
        self._paused_until = 0.0
        self._pace = Pace(stamp=self._stamp)
        self._waiters: list[tuple[int, int, asyncio.Future[float]]] = []
        self._order = itertools.count()
        self._wake: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None

    @property
    def waiting(self) -> int:
        return sum(1 for _, _, future in self._waiters if not future.done())

    async def acquire(self, priority: int = INTERACTIVE) -> float:
        """Wait for a turn good to send with now (another one when it is not `fresh`);
        the time (`time.monotonic`) it was asked for, at or before its grant."""
        while True:
            asked = await self._next(priority)
            if self.fresh(asked):
                return asked

    async def _next(self, priority: int) -> float:
        """The next turn, as `acquire`, fresh or not."""
        if self.rate <= 0:
            return time.monotonic()
        if not self._waiters and self.shared is None:
            # Nobody queued: take a token at once when there is one (the common case).
            now = time.monotonic()
            self._refill(now)
            if now >= self._paused_until and self._tokens >= 1.0:
                self._tokens -= 1.0
                return now
        future: asyncio.Future[float] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._waiters, (priority, next(self._order), future))
        # Wake the loop only for a waiter now first in line (ahead of the others'
        # priority); waking it for each one would ask the shared bucket again each time.
        self._kick(wake=self._waiters[0][2] is future)
        return await future

    def fresh(self, asked: float) -> bool:
        """Whether a turn asked for at `asked` is still good to send with: a shared turn
        for `FRESH` seconds; when it is not, it is dropped (and counted)."""
        if self.shared is None or self._shared_down or time.monotonic() - asked <= FRESH:
            return True
        metrics.RATE_DROPPED.labels(self.key).inc()
        return False

    def pause(self, seconds: float) -> None:
        """Nobody sends for `seconds` (from now): the platform said "too many requests";
        then a slower pace, climbing back (`Pace`)."""
        now = time.monotonic()
        self._refill(now)
        self._pace.cut(now, seconds, paused=now < self._paused_until)
        self._paused_until = max(self._paused_until, now + seconds)
        self._tokens = 0.0
        if self.shared is not None:  # every other process waits too
            task = asyncio.get_running_loop().create_task(self._pause_shared(seconds))
            self._pausing.add(task)
            task.add_done_callback(self._pausing.discard)
        self._kick()

    async def _pause_shared(self, seconds: float) -> None:
        assert self.shared is not None
        try:
            await self.shared.pause(self.key, seconds)
        except Exception as error:
            self._down(error)

    def _down(self, error: Exception) -> None:
        if not self._shared_down:
            self._shared_down = True
            log.warning("rate limit %s: the shared bucket is unreachable (%s); this process "
                        "goes on at its own rate", self.key, type(error).__name__)

    async def _take_shared(self, priority: int) -> Grant:
        """The shared bucket's answer for the next waiter (granted when unreachable)."""
        assert self.shared is not None
        try:
            grant = await self.shared.take(self.key, self.rate,
                                           max(SHARED_BURST, self.rate / 50) + RESERVE,
                                           RESERVE if priority > INTERACTIVE else 0.0)
        except Exception as error:
            self._down(error)
            return Grant(True, 0.0)
        if self._shared_down:
            self._shared_down = False
            log.info("rate limit %s: the shared bucket is back", self.key)
        return grant

    def _kick(self, wake: bool = True) -> None:
        if self._wake is None:
            self._wake = asyncio.Event()
        if wake:
            self._wake.set()
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._run())

    def _refill(self, now: float) -> None:
        if now < self._paused_until:
            self._stamp = now
            return
        start = max(self._stamp, self._paused_until)
        self._tokens = min(self.burst,
                           self._tokens + (now - start) * self.rate * self._pace.at(now))
        self._stamp = now

    async def _run(self) -> None:
        assert self._wake is not None
        while True:
            while self._waiters and self._waiters[0][2].done():  # cancelled waiters
                heapq.heappop(self._waiters)
            if not self._waiters:
                return
            now = time.monotonic()
            self._refill(now)
            if now >= self._paused_until and self._tokens >= 1.0:
                if self.shared is not None:
                    granted, wait = await self._take_shared(self._waiters[0][0])
                    if not granted:
                        self._wake.clear()
                        with contextlib.suppress(TimeoutError):  # a pause, a reply
                            await asyncio.wait_for(self._wake.wait(), wait)
                        continue
                    # The turn's time, counted from the question: the bucket answered
                    # after `now`, so the turn is no earlier than this (by at most the
                    # question's way there), and a slow answer (a busy process) shortens
                    # the wait for a reserved turn instead of making it late.
                    now += wait
                    delay = now - time.monotonic()
                    if delay > 0:  # a reserved turn: the slot is ours
                        await asyncio.sleep(delay)
                    if not self.fresh(now) or time.monotonic() < self._paused_until:
                        continue  # too old to use, or a 429 meanwhile: ask again
                    while self._waiters and self._waiters[0][2].done():
                        heapq.heappop(self._waiters)
                    if not self._waiters:  # the waiter left meanwhile: its token is lost
                        return
                self._tokens -= 1.0
                heapq.heappop(self._waiters)[2].set_result(now)
                continue
            delay = max(self._paused_until - now,
                        (1.0 - self._tokens) / (self.rate * self._pace.factor), 0.0)
            self._wake.clear()
            # Woken early by a new waiter (it may have a higher priority) or a pause.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), delay)
