"""The durable queue: rows of work claimed under a short lease, retried with backoff.

A queue is a domain table (its own typed columns: a reminder's registration, a
delivery's recipient) that also has the columns of `bot.db.models.QueueColumns`: `status`,
`attempts`, `next_attempt_at` (not before; empty means now), `lease_owner`,
`lease_expires_at` and `last_error`. `Queue` runs the work on any such model; the
table says which of its statuses mean pending, claimed and failed.

- `claim` takes up to `limit` ready rows in one statement (`UPDATE … RETURNING`, the
  rows chosen `FOR UPDATE SKIP LOCKED` on PostgreSQL; SQLite has one writer at a time).
  Ready is pending and due, or claimed by another owner whose lease has expired (a
  process that died). Every claim counts an attempt.
- In order per key (`in_order`: a column such as the user a row is for, and the columns
  that order that key's rows): a row is ready only while it is its key's first row not
  yet settled (pending or claimed) and no other row of its key is claimed under a live
  lease. So one key's rows are handed out one at a time, oldest first, across every
  process; when a holder dies, the same row is the next one taken. Rows without a key
  are not held back.
- A claim is a lease of `lease` (10 s). `Consumer`, one process's side of a queue,
  renews the leases of the rows it holds every `lease / 3` while they wait or run, so
  a live process keeps its rows however long they take, and a dead one's are taken
  over within one lease.
- The work ends in the transaction that records its result: `finish` (one of the
  table's final statuses), `retry` (pending again after `backoff * 2 ** (attempts - 1)`,
  or `give_up` after `max_attempts`), `give_up` (failed, the reason in `last_error`),
  or `release` (pending again, the attempt not counted: a process stopping before the
  work started). A `Consumer` leaving its `async with` releases what it still holds.

Putting a new table on the queue:

1. Add `QueueColumns` to the model's bases, a `StrEnum` of its statuses, and an
   alembic revision adding the columns (with an index on `status, next_attempt_at`).
2. Describe it once: `Queue(Model, pending=S.PENDING, claimed=S.WORKING,
   failed=S.FAILED, ready=…, order_by=…)`; `ready(now)` adds the table's own
   condition (a reminder's due time, a delivery's broadcast still running).
3. Work it: `async with Consumer(queue, sessionmaker, worker) as consumer:` around the
   loop (or `start()` and `stop()` for a consumer that lives as long as a channel);
   `rows = await consumer.claim(db, limit, Model.some_column, …)` in a short
   transaction (rows of id, attempts and the columns asked for); then settle each row
   with `queue.finish/retry/give_up/release(db, …)` in the transaction that writes its
   result, and `consumer.drop(ids)`. A failure that is not the row's fault is a
   `retry` with the error, never a row left claimed.
4. Work that arrives in this process (a webhook storing what it will handle itself)
   needs no claiming query: insert the row with `**consumer.claimed()` (already claimed
   by this consumer), `consumer.hold([row.id])` after the flush, and hand it over in
   memory. A poller calling `consumer.claim` picks up only the rows nobody holds: never
   claimed, or whose owner stopped renewing.

Messages sent at most once (reminders, broadcast deliveries: a table with
`bot.db.models.IntentColumns` too). `Intents.mark` commits a row's intent
(`attempted_at`) before its request goes to the platform, a batch of rows at a time;
the result (the message id) is recorded with the row's `finish`. Marked with the
consumer's `owner`, it is written only while that consumer still holds the row (and
renews its lease): False means another process took the row over, and the message
must not go. A row claimed again
with an intent and no result may have gone out: `retaken` says what to do with it,
from how long the platform takes to tell that a message went out (WhatsApp's status
webhook, `resolve`) or that it cannot tell (Telegram). A `retry` clears the intent
(the platform answered with an error: nothing went out); a `release` keeps it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from types import TracebackType
from typing import Any, Generic, TypeVar, cast

from sqlalchemy import ColumnElement, and_, bindparam, exists, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import aliased

from bot.clock import now
from bot.db.dialect import skip_locked
from bot.db.models import ERROR_LENGTH, OWNER_LENGTH, IntentColumns, QueueColumns
from bot.db.outage import OUTAGE, is_outage

log = logging.getLogger(__name__)

LEASE = timedelta(seconds=10)


M = TypeVar("M", bound=QueueColumns)


def _error(text: str | None) -> str | None:
    return (text or "")[:ERROR_LENGTH] or None


@dataclass(frozen=True)
class Queue(Generic[M]):
    """The work on one queue table; every method runs in the caller's transaction."""

    model: type[M]
    pending: str
    claimed: str
    failed: str
    # The table's own condition for a row to be taken (besides status and times).
    ready: Callable[[datetime], ColumnElement[bool]] | None = None
    order_by: Callable[[], Sequence[Any]] | None = None
    # (key column, ordering columns) by name: one key's rows are claimed one at a time,
    # in that order (see the module's docstring).
    in_order: tuple[str, tuple[str, ...]] | None = None
    lease: timedelta = LEASE
    max_attempts: int = 5
    backoff: timedelta = timedelta(seconds=30)

    @property
    def _m(self) -> Any:
        return self.model  # the mixin's columns as SQL expressions

    def backoff_after(self, attempts: int) -> timedelta:
        return self.backoff * 2 ** max(0, attempts - 1)

    def claimed_values(self, owner: str, now: datetime) -> dict[str, Any]:
        """The columns of a row written already claimed by `owner`."""
        return {"status": self.claimed, "attempts": 1, "lease_owner": owner,
                "lease_expires_at": now + self.lease}

    async def claim(self, db: AsyncSession, owner: str, now: datetime, limit: int,
                    *columns: Any, ready_at: datetime | None = None) -> list[Sequence[Any]]:
        """Claim up to `limit` ready rows for `owner`: rows of (id, attempts, *columns),
        ordered by id. `ready_at`: the time the queue's `ready` is asked for (later than
        `now`: rows claimed ahead, which the caller holds until then)."""
        m = self._m
        due = or_(m.next_attempt_at.is_(None), m.next_attempt_at <= now)
        ready = or_(
            and_(m.status == self.pending, due),
            # A lease its owner stopped renewing; never our own (we still hold those).
            and_(m.status == self.claimed, m.lease_expires_at < now,
                 or_(m.lease_owner.is_(None), m.lease_owner != owner)),
        )
        if self.ready is not None:
            ready = and_(ready, self.ready(now if ready_at is None else ready_at))
        if self.in_order is not None:
            ready = and_(ready, self._its_turn(now))
        order = self.order_by() if self.order_by is not None else (m.id,)
        chosen = skip_locked(db, select(m.id).where(ready).order_by(*order).limit(limit),
                             of=self.model)
        result = await db.execute(
            update(self.model).where(m.id.in_(chosen.scalar_subquery()))
            .values(status=self.claimed, lease_owner=owner, lease_expires_at=now + self.lease,
                    attempts=m.attempts + 1)
            .returning(m.id, m.attempts, *columns)
            .execution_options(synchronize_session=False))
        return sorted(result.all(), key=lambda row: row[0])

    def _its_turn(self, now: datetime) -> ColumnElement[bool]:
        """The row has no key, or no other row of its key goes first: none before it in
        the key's order is still to be settled, and none is held under a live lease."""
        assert self.in_order is not None
        key, columns = self.in_order
        m, other = self._m, cast(Any, aliased(self.model))
        earlier: ColumnElement[bool] | None = None
        for name in reversed(columns):  # (a, b) < (a', b'), written out for SQLite too
            before = getattr(other, name) < getattr(m, name)
            earlier = before if earlier is None else or_(
                before, and_(getattr(other, name) == getattr(m, name), earlier))
        assert earlier is not None
        first = ~exists().where(
            getattr(other, key) == getattr(m, key), other.id != m.id,
            other.status.in_([self.pending, self.claimed]),
            or_(earlier, and_(other.status == self.claimed, other.lease_expires_at >= now)))
        return or_(getattr(m, key).is_(None), first)

    async def renew(self, db: AsyncSession, owner: str, ids: Iterable[int],
                    now: datetime) -> set[int]:
        """Extend the leases `owner` holds on `ids`; returns the ids still claimed."""
        wanted = list(ids)
        if not wanted:
            return set()
        m = self._m
        result = await db.execute(
            update(self.model)
            .where(m.id.in_(wanted), m.status == self.claimed, m.lease_owner == owner)
            .values(lease_expires_at=now + self.lease)
            .returning(m.id).execution_options(synchronize_session=False))
        return set(result.scalars())

    async def finish(self, db: AsyncSession, rows: Iterable[int | Mapping[str, Any]],
                     status: str, **values: Any) -> None:
        """Claimed rows end in `status`, with `values` for all of them; a row given as a
        mapping ({"id": …, column: value}) adds its own values."""
        params: list[dict[str, Any]] = []
        own: set[str] = set()
        for row in rows:
            if isinstance(row, Mapping):
                own.update(key for key in row if key != "id")
                params.append({f"q_{key}": value for key, value in row.items()})
            else:
                params.append({"q_id": row})
        if not params:
            return
        m = self._m
        statement = (
            update(self.model).where(m.id == bindparam("q_id"), m.status == self.claimed)
            .values(status=status, lease_owner=None, lease_expires_at=None, **values,
                    **{key: bindparam(f"q_{key}") for key in sorted(own)}))
        connection = await db.connection()
        await connection.execute(statement, params)

    async def retry(self, db: AsyncSession, rows: Iterable[tuple[int, int, str | None]],
                    now: datetime, gave_up: str | None = None) -> list[int]:
        """Rows (id, attempts so far, error) that failed for now: pending again after a
        backoff, or failed after `max_attempts` (with `gave_up`, else the error).
        Returns the ids given up."""
        again: list[dict[str, Any]] = []
        given_up: list[tuple[int, str | None]] = []
        for row_id, attempts, error in rows:
            if attempts >= self.max_attempts:
                given_up.append((row_id, gave_up or error))
            else:
                again.append({"id": row_id, "next_attempt_at": now + self.backoff_after(attempts),
                              "last_error": _error(error)})
        # The platform answered with an error: nothing went out, no intent stands.
        cleared: dict[str, Any] = {}
        if issubclass(self.model, IntentColumns):
            cleared["attempted_at"] = None
        await self.finish(db, again, self.pending, **cleared)
        await self.give_up(db, given_up)
        return [row_id for row_id, _ in given_up]

    async def give_up(self, db: AsyncSession, rows: Iterable[tuple[int, str | None]]) -> None:
        """Rows (id, reason) that will never succeed: failed, with the reason."""
        await self.finish(db, [{"id": row_id, "last_error": _error(reason)}
                               for row_id, reason in rows], self.failed)

    async def resolve(self, db: AsyncSession, where: ColumnElement[bool], message_id: str,
                      status: str, now: datetime | None = None) -> None:
        """The platform told that a message went out (a status naming its recipient):
        the rows matching `where` whose outcome was unknown (an intent, no message id)
        end in `status` with its id (sent `now`, else at the intent). Every such row of
        that recipient: at most once, never twice."""
        m = self._m
        await db.execute(
            update(self.model).where(where, m.message_id.is_(None), m.attempted_at.is_not(None),
                                     m.status.in_((self.pending, self.claimed)))
            .values(status=status, message_id=message_id,
                    sent_at=now if now is not None else m.attempted_at, lease_owner=None,
                    lease_expires_at=None, next_attempt_at=None, last_error=None)
            .execution_options(synchronize_session=False))

    async def release(self, db: AsyncSession, ids: Iterable[int],
                      owner: str | None = None) -> None:
        """Claimed rows whose work never started: pending again, the attempt not counted
        (with `owner`: only the rows it still holds)."""
        wanted = list(ids)
        if not wanted:
            return
        m = self._m
        held = [m.lease_owner == owner] if owner is not None else []
        await db.execute(
            update(self.model).where(m.id.in_(wanted), m.status == self.claimed, *held)
            .values(status=self.pending, attempts=m.attempts - 1, lease_owner=None,
                    lease_expires_at=None)
            .execution_options(synchronize_session=False))


@dataclass(eq=False)
class Consumer(Generic[M]):
    """One process's side of a queue: the rows it holds, their leases renewed while it
    runs (`async with`), and released when it stops. `owner` gets a random suffix, so
    that a restarted process (with the same host name and pid) is another owner."""

    queue: Queue[M]
    sessionmaker: async_sessionmaker[AsyncSession]
    owner: str
    clock: Callable[[], datetime] = now
    held: set[int] = field(default_factory=set)
    _beating: asyncio.Task[None] | None = None

    def __post_init__(self) -> None:
        suffix = secrets.token_hex(3)
        self.owner = f"{self.owner[:OWNER_LENGTH - len(suffix) - 1]}/{suffix}"

    async def claim(self, db: AsyncSession, limit: int, *columns: Any,
                    ready_at: datetime | None = None) -> list[Sequence[Any]]:
        rows = await self.queue.claim(db, self.owner, self.clock(), limit, *columns,
                                      ready_at=ready_at)
        self.held.update(row[0] for row in rows)
        return rows

    def claimed(self) -> dict[str, Any]:
        """Values for a row this process writes and handles itself."""
        return self.queue.claimed_values(self.owner, self.clock())

    def hold(self, ids: Iterable[int]) -> None:
        self.held.update(ids)

    def drop(self, ids: Iterable[int]) -> None:
        self.held.difference_update(ids)

    async def renew(self) -> None:
        if not self.held:
            return
        asked = set(self.held)
        async with self.sessionmaker() as db, db.begin():
            kept = await self.queue.renew(db, self.owner, asked, self.clock())
        # Rows settled meanwhile are held no longer.
        self.held.difference_update(asked - kept)

    async def release(self) -> None:
        if not self.held:
            return
        ids, self.held = set(self.held), set()
        async with self.sessionmaker() as db, db.begin():
            await self.queue.release(db, ids, self.owner)

    async def _heartbeat(self) -> None:
        interval = max(0.05, self.queue.lease.total_seconds() / 3)
        while True:
            await asyncio.sleep(interval)
            try:
                await self.renew()
            except Exception as error:
                if is_outage(error):  # the rows come back once their leases run out
                    OUTAGE.failed(f"queue {self.queue.model.__name__}", error)
                else:
                    log.exception("queue %s: renewing leases failed",
                                  self.queue.model.__name__)

    async def start(self) -> None:
        """Renew the held rows' leases from now on (`async with` does this and `stop`)."""
        if self._beating is None:
            self._beating = asyncio.create_task(self._heartbeat())

    async def stop(self) -> None:
        """No more renewals; the rows still held go back in line."""
        if self._beating is not None:
            self._beating.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._beating
            self._beating = None
        try:
            await self.release()
        except Exception:
            log.exception("queue %s: releasing claimed rows failed", self.queue.model.__name__)

    async def __aenter__(self) -> Consumer[M]:
        await self.start()
        return self

    async def __aexit__(self, kind: type[BaseException] | None, error: BaseException | None,
                        trace: TracebackType | None) -> None:
        await self.stop()


# ---- messages sent at most once --------------------------------------------------------------


class Retaken(StrEnum):
    """What to do with a row claimed again: its intent may stand from an earlier claim
    whose process died while the request was out."""

    SEND = "send"  # no intent, or no word from the platform in all the wait: never went out
    WAIT = "wait"  # the platform may still tell it went out: not before the intent + the wait
    UNKNOWN = "unknown"  # the platform cannot tell (Telegram): the table's own rule


def retaken(attempted_at: datetime | None, wait: timedelta | None, now: datetime) -> Retaken:
    """`wait`: how long the platform takes to tell that a message went out (WhatsApp's
    status); None: it cannot tell."""
    if attempted_at is None:
        return Retaken.SEND
    if wait is None:
        return Retaken.UNKNOWN
    return Retaken.WAIT if now < attempted_at + wait else Retaken.SEND


class Intents:
    """The intents of the messages about to go out on one queue, written together: each
    `mark` returns once its row's `attempted_at` is committed.

    Marked for an `owner`, the intent is written only while that owner still holds the
    row's claim, and renews its lease in the same statement: a process that stalled
    past its lease (a busy machine: its heartbeat late) and whose row another process
    has taken over meanwhile learns it here, before its request, and leaves the row to
    the other, instead of both sending it."""

    def __init__(self, queue: Queue[Any], sessionmaker: async_sessionmaker[AsyncSession],
                 clock: Callable[[], datetime] = now) -> None:
        assert issubclass(queue.model, IntentColumns), queue.model
        self.queue = queue
        self.model: Any = queue.model
        self.sessionmaker = sessionmaker
        self.clock = clock
        self._waiting: list[tuple[int, str | None, asyncio.Future[bool]]] = []
        self._writing: asyncio.Task[None] | None = None

    async def mark(self, row_id: int, owner: str | None = None) -> bool:
        """Commit the row's intent; with `owner`, False (nothing written) when `owner`
        holds its claim no more: the message must not go."""
        future: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._waiting.append((row_id, owner, future))
        if self._writing is None or self._writing.done():
            self._writing = asyncio.create_task(self._write())
        return await future

    async def _write(self) -> None:
        while self._waiting:  # what arrived while one batch was written is the next
            batch, self._waiting = self._waiting, []
            owners: dict[str | None, list[int]] = {}
            for row, owner, _future in batch:
                owners.setdefault(owner, []).append(row)
            try:
                ours: set[int] = set()
                async with self.sessionmaker() as db, db.begin():
                    at = self.clock()
                    for owner, rows in owners.items():
                        statement = update(self.model).where(self.model.id.in_(rows))
                        values: dict[str, Any] = {"attempted_at": at}
                        if owner is not None:
                            statement = statement.where(
                                self.model.status == self.queue.claimed,
                                self.model.lease_owner == owner)
                            values["lease_expires_at"] = at + self.queue.lease
                        result = await db.execute(
                            statement.values(**values).returning(self.model.id)
                            .execution_options(synchronize_session=False))
                        ours.update(result.scalars())
            except Exception as error:
                for _row, _owner, future in batch:
                    if not future.done():
                        future.set_exception(error)
                continue
            for row, _owner, future in batch:
                if not future.done():
                    future.set_result(row in ours)
