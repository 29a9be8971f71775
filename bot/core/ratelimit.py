"""One rate limit per platform, shared by everything that sends, with priorities.

Replies to users (`INTERACTIVE`) and broadcast messages (`BROADCAST`) take their turns
from the same budget of `rate` messages per second; whenever both wait, the reply goes
first, so a running broadcast never slows a conversation down. `pause` (a 429's
`retry_after`) stops every sender of the platform until it has passed.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
import time

INTERACTIVE = 0
BROADCAST = 1


class PriorityLimiter:
    """A token bucket of `burst` tokens refilled at `rate` per second; waiters are served
    by priority (lower first), then in arrival order."""

    def __init__(self, rate: float, burst: float = 1.0) -> None:
        self.rate = rate
        self.burst = max(1.0, burst)
        self._tokens = self.burst
        self._stamp = time.monotonic()
        self._paused_until = 0.0
        self._waiters: list[tuple[int, int, asyncio.Future[None]]] = []
        self._order = itertools.count()
        self._wake: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None

    @property
    def waiting(self) -> int:
        return sum(1 for _, _, future in self._waiters if not future.done())

    async def acquire(self, priority: int = INTERACTIVE) -> None:
        if self.rate <= 0:
            return
        if not self._waiters:
            # Nobody queued: take a token at once when there is one (the common case).
            now = time.monotonic()
            self._refill(now)
            if now >= self._paused_until and self._tokens >= 1.0:
                self._tokens -= 1.0
                return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._waiters, (priority, next(self._order), future))
        self._kick()
        await future

    def pause(self, seconds: float) -> None:
        """Nobody sends for `seconds` (from now): the platform said "too many requests"."""
        self._paused_until = max(self._paused_until, time.monotonic() + seconds)
        self._tokens = 0.0
        self._kick()

    def _kick(self) -> None:
        if self._wake is None:
            self._wake = asyncio.Event()
        self._wake.set()
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._run())

    def _refill(self, now: float) -> None:
        if now < self._paused_until:
            self._stamp = now
            return
        start = max(self._stamp, self._paused_until)
        self._tokens = min(self.burst, self._tokens + (now - start) * self.rate)
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
                self._tokens -= 1.0
                heapq.heappop(self._waiters)[2].set_result(None)
                continue
            delay = max(self._paused_until - now, (1.0 - self._tokens) / self.rate, 0.0)
            self._wake.clear()
            # Woken early by a new waiter (it may have a higher priority) or a pause.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), delay)
