"""aiosqlite with one trip to the database thread per statement.

aiosqlite runs every sqlite3 call on its own thread and hands each result back to the
event loop. SQLAlchemy's adapter makes four such trips for a query (create a cursor,
execute, fetch, close) and one more for the rollback with which the pool resets a
connection that has just committed. Each trip costs a thread switch and a wake-up of the
event loop, far more than SQLite's own work for a small indexed query.

This connection does a statement in one trip: the cursor is created, the statement
executed, the first rows fetched and the cursor closed together on the database
thread; the cursor keeps those rows and only goes back to the thread for the rest of a
large result. A commit or rollback with no transaction open costs nothing. It is a
subclass of `aiosqlite.Connection` given to SQLAlchemy with `async_creator`, so
SQLAlchemy's aiosqlite dialect (types, errors, pooling) is used unchanged.
"""

from __future__ import annotations

import sqlite3
from collections import deque
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from functools import partial
from typing import Any

import aiosqlite
from sqlalchemy.ext.asyncio import AsyncConnection

# Rows fetched together with the statement; a larger result is fetched in batches.
PREFETCH = 512


class Cursor:
    """The part of `aiosqlite.Cursor` SQLAlchemy uses, with results fetched eagerly."""

    arraysize = 1

    def __init__(self, connection: OneTripConnection) -> None:
        self._connection = connection
        self._open: sqlite3.Cursor | None = None  # only while rows are left to fetch
        self._rows: deque[Any] = deque()
        self.description: Any = None
        self.rowcount = -1
        self.lastrowid: int | None = None

    async def __aenter__(self) -> Cursor:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # ---- on the database thread ------------------------------------------------------

    def _run(self, sql: str, parameters: Any, many: bool, commit_if: int | None = None) -> None:
        connection = self._connection._conn
        cursor = connection.cursor()
        try:
            if many:
                cursor.executemany(sql, parameters)
            else:
                cursor.execute(sql, parameters)
            self.description = cursor.description
            self.rowcount = cursor.rowcount
            self.lastrowid = cursor.lastrowid
            rows = cursor.fetchmany(PREFETCH) if cursor.description is not None else []
            if commit_if is not None and cursor.rowcount == commit_if:
                connection.commit()
        except BaseException:
            cursor.close()
            raise
        self._rows = deque(rows)
        if len(rows) < PREFETCH:
            cursor.close()
        else:
            self._open = cursor

    def _more(self, size: int | None) -> list[Any]:
        cursor = self._open
        assert cursor is not None
        rows = cursor.fetchall() if size is None else cursor.fetchmany(size)
        if size is None or len(rows) < size:
            cursor.close()
            self._open = None
        return rows

    def _close(self) -> None:
        if self._open is not None:
            self._open.close()
            self._open = None

    # ---- the aiosqlite interface -------------------------------------------------------

    async def execute(self, sql: str, parameters: Sequence[Any] | None = None) -> Cursor:
        await self._close_open()
        connection = self._connection
        parameters = [] if parameters is None else parameters
        if connection.reads_here and sql.lstrip()[:6].upper() == "SELECT":
            self._run(sql, parameters, False)  # see OneTripConnection.reading_here
            return self
        commit_if, connection.commit_if = connection.commit_if, None
        await connection._execute(self._run, sql, parameters, False, commit_if)
        return self

    async def executemany(self, sql: str, parameters: Iterable[Sequence[Any]]) -> Cursor:
        await self._close_open()
        await self._connection._execute(self._run, sql, parameters, True)
        return self

    async def fetchone(self) -> Any:
        if not self._rows and self._open is not None:
            self._rows.extend(await self._connection._execute(self._more, PREFETCH))
        return self._rows.popleft() if self._rows else None

    async def fetchmany(self, size: int | None = None) -> list[Any]:
        wanted = size or self.arraysize
        if len(self._rows) < wanted and self._open is not None:
            self._rows.extend(await self._connection._execute(
                self._more, max(wanted - len(self._rows), PREFETCH)))
        return [self._rows.popleft() for _ in range(min(wanted, len(self._rows)))]

    async def fetchall(self) -> list[Any]:
        rows = list(self._rows)
        self._rows.clear()
        if self._open is not None:
            rows.extend(await self._connection._execute(self._more, None))
        return rows

    async def close(self) -> None:
        self._rows.clear()
        await self._close_open()

    async def _close_open(self) -> None:
        if self._open is not None:
            await self._connection._execute(self._close)


class OneTripConnection(aiosqlite.Connection):
    # Set by `reading_here` and `commit_with_next`, for one caller's hot path.
    reads_here = False
    commit_if: int | None = None

    def cursor(self) -> Cursor:  # type: ignore[override]
        return Cursor(self)

    @contextmanager
    def reading_here(self) -> Iterator[None]:
        """SELECTs inside run on the calling thread, without a trip: for small indexed
        reads, which take microseconds where a trip takes tens, and which never wait
        for a lock in WAL mode. The caller holds the connection, so the database thread
        has nothing of it to do meanwhile."""
        self.reads_here = True
        try:
            yield
        finally:
            self.reads_here = False

    def commit_with_next(self, rowcount: int) -> None:
        """The next statement commits the transaction in its own trip when it touches
        `rowcount` rows (a write that finds nothing to change leaves the transaction
        open, for the caller to roll back). The caller's commit then has nothing to do."""
        self.commit_if = rowcount

    def _idle(self) -> bool:
        # Read on the event loop while the database thread has nothing of this
        # connection to do: SQLAlchemy runs one call at a time on a connection.
        return self._connection is not None and not self._connection.in_transaction

    async def commit(self) -> None:
        if not self._idle():
            await super().commit()

    async def rollback(self) -> None:
        if not self._idle():
            await super().rollback()


def creator(database: str, **options: Any) -> Any:
    """The `async_creator` of an engine: a connection to `database`."""

    async def connect() -> OneTripConnection:
        connection = OneTripConnection(
            partial(sqlite3.connect, database, check_same_thread=False, **options),
            iter_chunk_size=64,
        )
        connection._thread.daemon = True  # as SQLAlchemy's own dialect does
        await connection
        return connection

    return connect


async def one_trip(connection: AsyncConnection) -> OneTripConnection | None:
    """The connection's driver when it is a OneTripConnection (not on PostgreSQL)."""
    raw = await connection.get_raw_connection()
    driver = raw.driver_connection
    return driver if isinstance(driver, OneTripConnection) else None
