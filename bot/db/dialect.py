"""What SQLite and PostgreSQL do differently, in one place.

Code outside this module asks these helpers instead of testing the dialect's name:

- `insert_for(db)`: the `INSERT` with `ON CONFLICT …` (upserts) of the database in use;
- `skip_locked(db, query)`: rows chosen for an update that concurrent transactions
  skip instead of waiting for (`FOR UPDATE SKIP LOCKED` on PostgreSQL; SQLite has one
  writer at a time, so a plain `SELECT` is already exclusive there);
- `year_month(db, column)`: a timestamp as `YYYY-MM`, for statistics per month;
- `first_row(connection, query, params)`: the first row of a read of the hot path, in
  one trip to aiosqlite's thread on SQLite;
- `track_writes(engine)` and `wrote(connection)`: whether a step wrote anything.
"""

from __future__ import annotations

from collections import namedtuple
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, Select, event, func
from sqlalchemy.engine import Connection, Dialect
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession

S = TypeVar("S", bound=Select[Any])
# A session, or a connection (code below the ORM, e.g. the engine's user insert).
Bind = AsyncSession | AsyncConnection


def is_postgresql(db: Bind) -> bool:
    dialect = db.dialect if isinstance(db, AsyncConnection) else db.get_bind().dialect
    return dialect.name == "postgresql"


def insert_for(db: Bind) -> Any:
    """`insert` with `on_conflict_do_nothing` / `on_conflict_do_update` for `db`'s database.
    Each dialect's module is imported when first asked for (PostgreSQL's is 2-3 MB that a
    bot on SQLite never needs)."""
    if is_postgresql(db):
        from sqlalchemy.dialects import postgresql

        return postgresql.insert
    from sqlalchemy.dialects import sqlite

    return sqlite.insert


def skip_locked(db: Bind, query: S, of: Any = None) -> S:
    """`query` locking the rows it returns, skipping those another transaction holds."""
    if is_postgresql(db):
        return query.with_for_update(skip_locked=True, of=of)
    return query


def year_month(db: Bind, column: Any) -> ColumnElement[str]:
    if is_postgresql(db):
        return func.to_char(column, "YYYY-MM")
    return func.strftime("%Y-%m", column)


# ---- the hot path's read -------------------------------------------------------------


@dataclass(frozen=True)
class _Prepared:
    """A read compiled once for SQLite: its SQL, its parameters in order with their
    processors, and the processors and names of its columns."""

    sql: str
    params: Sequence[tuple[str, Callable[[Any], Any] | None]]
    columns: Sequence[Callable[[Any], Any] | None]
    row: Callable[..., Any]


# By statement (a statement of the hot path lives as long as the process).
_PREPARED: dict[Select[Any], _Prepared] = {}


def _prepare(query: Select[Any], dialect: Dialect) -> _Prepared:
    compiled = query.compile(dialect=dialect)
    binds = compiled.binds
    params = [(name, binds[name].type.dialect_impl(dialect).bind_processor(dialect))
              for name in compiled.positiontup or ()]
    selected = list(query.selected_columns)
    columns = [column.type.dialect_impl(dialect).result_processor(dialect, None)
               for column in selected]
    row = namedtuple("Row", [column.key for column in selected])  # type: ignore[misc]
    return _Prepared(str(compiled), params, columns, row)


async def first_row(connection: AsyncConnection, query: Select[Any],
                    params: dict[str, Any]) -> Any | None:
    """The first row `query` returns, with attribute access as SQLAlchemy's rows have.

    On PostgreSQL (asyncpg is asynchronous itself) this is `connection.execute`. On
    SQLite every statement SQLAlchemy executes takes four trips to aiosqlite's thread
    (open a cursor, execute, fetch, close: each a hand-off between threads, which costs
    more than the read itself) and starts a transaction that must be committed, another
    trip. A read of one row needs none of that: the statement is compiled once by
    SQLAlchemy (its SQL, its parameters' and columns' type processors) and run by
    aiosqlite's own `execute_fetchall` on the connection's driver connection, in one
    trip, outside any transaction (a SELECT opens none in sqlite3), so a step that only
    reads commits nothing. A write after it in the same step starts the transaction as
    usual, through SQLAlchemy."""
    if connection.dialect.name != "sqlite":
        return (await connection.execute(query, params)).first()
    prepared = _PREPARED.get(query)
    if prepared is None:
        prepared = _PREPARED[query] = _prepare(query, connection.dialect)
    values = [process(params[name]) if process else params[name]
              for name, process in prepared.params]
    driver = (await connection.get_raw_connection()).driver_connection
    assert driver is not None  # a checked-out connection has its driver's connection
    rows = await driver.execute_fetchall(prepared.sql, values)
    if not rows:
        return None
    return prepared.row(*[process(value) if process else value
                          for process, value in zip(prepared.columns, rows[0], strict=True)])


# ---- whether a step wrote ------------------------------------------------------------

_WROTE = "otandas.wrote"
_WRITES = ("INSERT", "UPDATE", "DELETE", "REPLACE")


def _note_write(conn: Connection, _cursor: Any, statement: str, _parameters: Any,
                context: Any, _executemany: bool) -> None:
    if (context is not None and (context.isinsert or context.isupdate or context.isdelete)) \
            or statement[:16].lstrip().upper().startswith(_WRITES):  # text() statements
        conn.info[_WROTE] = True


def track_writes(engine: AsyncEngine) -> None:
    """Note on each connection whether a statement changed anything (`wrote`)."""
    if not event.contains(engine.sync_engine, "after_cursor_execute", _note_write):
        event.listen(engine.sync_engine, "after_cursor_execute", _note_write)


def wrote(connection: AsyncConnection, *, reset: bool = False) -> bool:
    """Whether an INSERT, UPDATE or DELETE ran on `connection` since the last reset (its
    engine passed to `track_writes`). `info` belongs to the pooled connection, so a step
    resets it when it starts."""
    info = connection.info
    return bool(info.pop(_WROTE, False) if reset else info.get(_WROTE, False))
