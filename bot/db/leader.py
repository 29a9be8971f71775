"""One process at a time runs the singletons: the leader.

Several `python -m bot run` processes may share one PostgreSQL database. Most of the
work is shared through the durable queue (`bot.db.queue`), but a few jobs must run in
exactly one of them: Telegram's polling, `setWebhook` and `setMyCommands` at start, the
periodic purges and clean-ups. Those belong to the process that holds the `leader`
row of `worker_leases`:

- `Lease.acquire` takes the row when it is free or expired (or renews it when it is
  ours already) in one conditional `UPDATE`; the row's expiry is `ttl` (9 s) ahead;
- `Leadership` tries every `ttl / 3` (3 s), calls `on_gain` when it becomes the leader
  and `on_loss` when it stops being one. A leader that cannot renew (the database is
  unreachable) steps down before its lease runs out, so two leaders never overlap;
- a process that stops releases the row (another takes over at its next try, within
  3 s); a process that dies is taken over when the lease expires: within
  `ttl + ttl / 3` (12 s).

SQLite serves one process: `SingleProcessLock` (an exclusive `flock` on a file next to
the database) makes a second `run` on the same file stop with a clear message, and the
one process is the leader from the start (`Leadership(always=True)`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import socket
import time
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import IO

from sqlalchemy import delete, or_, update
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.clock import now
from bot.db.dialect import insert_for
from bot.db.models import OWNER_LENGTH, WorkerLease
from bot.db.outage import OUTAGE, is_outage

log = logging.getLogger(__name__)

LEADER = "leader"
TTL = timedelta(seconds=9)


def worker_name() -> str:
    """This process among the others: host, pid and a random suffix (a restarted
    process with the same pid is another worker)."""
    suffix = secrets.token_hex(3)
    return f"{socket.gethostname()}:{os.getpid()}"[:OWNER_LENGTH - len(suffix) - 1] \
        + f"/{suffix}"


class Lease:
    """A named row one owner holds until it expires; every method is one transaction."""

    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession], owner: str,
                 name: str = LEADER, ttl: timedelta = TTL,
                 clock: Callable[[], datetime] = now) -> None:
        self.sessionmaker = sessionmaker
        self.owner = owner
        self.name = name
        self.ttl = ttl
        self.clock = clock

    async def acquire(self) -> bool:
        """Take (or renew) the lease; False when another owner holds it."""
        at = self.clock()
        async with self.sessionmaker() as db, db.begin():
            insert = insert_for(db)
            await db.execute(insert(WorkerLease).values(
                name=self.name, owner=self.owner, expires_at=at + self.ttl)
                .on_conflict_do_nothing(index_elements=["name"]))
            taken = await db.execute(
                update(WorkerLease)
                .where(WorkerLease.name == self.name,
                       or_(WorkerLease.owner == self.owner, WorkerLease.expires_at < at))
                .values(owner=self.owner, expires_at=at + self.ttl)
                .returning(WorkerLease.name).execution_options(synchronize_session=False))
            return taken.first() is not None

    async def release(self) -> None:
        async with self.sessionmaker() as db, db.begin():
            await db.execute(delete(WorkerLease).where(WorkerLease.name == self.name,
                                                       WorkerLease.owner == self.owner))

    async def holder(self) -> str | None:
        async with self.sessionmaker() as db:
            row = await db.get(WorkerLease, self.name)
            return row.owner if row is not None and row.expires_at >= self.clock() else None


Hook = Callable[[], Awaitable[None]]


class Leadership:
    """Keeps trying for the lease; runs `on_gain` / `on_loss` as leadership changes."""

    def __init__(self, lease: Lease | None, on_gain: Hook, on_loss: Hook, *,
                 always: bool = False) -> None:
        self.lease = lease
        self.on_gain = on_gain
        self.on_loss = on_loss
        self.always = always or lease is None
        self.leading = False
        self._renewed = 0.0  # when the lease we hold was last taken (monotonic)
        self._task: asyncio.Task[None] | None = None

    @property
    def interval(self) -> float:
        assert self.lease is not None
        return max(0.05, self.lease.ttl.total_seconds() / 3)

    async def start(self) -> None:
        if self.always:
            await self._gain()
            return
        await self._try()  # a lone process leads at once
        self._task = asyncio.create_task(self._loop())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self.leading:
            await self._lose()
            if self.lease is not None and not self.always:
                try:
                    await self.lease.release()  # the next leader need not wait for expiry
                except Exception:
                    log.warning("leader: could not release the lease", exc_info=True)

    async def _gain(self) -> None:
        self.leading = True
        log.info("leader: this process runs the singletons")
        try:
            await self.on_gain()
        except Exception:
            log.exception("leader: starting the singletons failed")

    async def _lose(self) -> None:
        self.leading = False
        log.warning("leader: this process no longer runs the singletons")
        try:
            await self.on_loss()
        except Exception:
            log.exception("leader: stopping the singletons failed")

    async def _try(self) -> None:
        assert self.lease is not None
        started = time.monotonic()
        try:
            held = await self.lease.acquire()
        except Exception as error:
            if not is_outage(error):
                log.exception("leader: renewing the lease failed")
            else:
                OUTAGE.failed("leader lease", error)
            # Step down while the lease we may hold is surely still ours: another
            # process may take it once it expires.
            if self.leading and time.monotonic() - self._renewed > \
                    self.lease.ttl.total_seconds() - 2 * self.interval:
                await self._lose()
            return
        if held:
            self._renewed = started
            if not self.leading:
                await self._gain()
        elif self.leading:
            await self._lose()

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            await self._try()


class AlreadyRunning(RuntimeError):
    """Another process serves the same SQLite file."""


class SingleProcessLock:
    """An exclusive lock on `<database file>.lock` for the life of `run` on SQLite;
    nothing to lock on another database (or SQLite in memory)."""

    def __init__(self, database_url: str) -> None:
        url = make_url(database_url)
        path = url.database if url.get_backend_name() == "sqlite" else None
        self.path = Path(f"{path}.lock") if path and path != ":memory:" else None
        self._file: IO[str] | None = None

    def acquire(self) -> None:
        if self.path is None:
            return
        import fcntl

        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle = self.path.open("a+")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as error:
            handle.close()
            raise AlreadyRunning(
                f"another `python -m bot run` serves {self.path.with_suffix('')} already: "
                "SQLite serves one process; set DATABASE_URL to PostgreSQL to run several"
            ) from error
        handle.seek(0)
        handle.truncate()
        handle.write(f"{os.getpid()}\n")
        handle.flush()
        self._file = handle

    def release(self) -> None:
        if self._file is not None:
            self._file.close()  # closing drops the lock
            self._file = None
