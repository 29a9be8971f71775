"""What SQLite and PostgreSQL do differently, in one place.

Code outside this module asks these helpers instead of testing the dialect's name:

- `insert_for(db)`: the `INSERT` with `ON CONFLICT …` (upserts) of the database in use;
- `skip_locked(db, query)`: rows chosen for an update that concurrent transactions
  skip instead of waiting for (`FOR UPDATE SKIP LOCKED` on PostgreSQL; SQLite has one
  writer at a time, so a plain `SELECT` is already exclusive there);
- `year_month(db, column)`: a timestamp as `YYYY-MM`, for statistics per month;
- `first_row(connection, query, params)`: the first row of a read of the hot path, or
  of a write's `RETURNING`, in one trip to aiosqlite's thread on SQLite;
- `session_row(db, query, params)`: `first_row` through an ORM session;
- `first_entity(db, query, params)`: the same for a read of one mapped object, which
  joins the session as if the ORM had loaded it;
- `store_changes(db)`: the changed objects of the classes `update_in_one_trip` names,
  each written in one trip on SQLite, as if the ORM had flushed them;
- `track_writes(engine)` and `wrote(connection)`: whether a step wrote anything.
"""

from __future__ import annotations

from collections import namedtuple
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar, cast

from sqlalchemy import ColumnElement, Select, UpdateBase, bindparam, event, func, inspect, update
from sqlalchemy.engine import Connection, Dialect
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession
from sqlalchemy.orm import make_transient, make_transient_to_detached
from sqlalchemy.orm.exc import StaleDataError

S = TypeVar("S", bound=Select[Any])
E = TypeVar("E")
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


# What `first_row` runs: a read, or a write with `RETURNING`.
Rows = Select[Any] | UpdateBase


@dataclass(frozen=True)
class _Prepared:
    """A statement compiled once for SQLite: its SQL, its parameters in order with their
    processors and the values the statement itself gives them (a literal compared
    with, a LIMIT), and the processors and names of its columns."""

    sql: str
    params: Sequence[tuple[str, Callable[[Any], Any] | None, Any]]
    columns: Sequence[Callable[[Any], Any] | None]
    row: Callable[..., Any]


# By statement (a statement of the hot path lives as long as the process).
_PREPARED: dict[Rows, _Prepared] = {}


def _prepare(query: Rows, dialect: Dialect) -> _Prepared:
    compiled = query.compile(dialect=dialect)
    if compiled.insert_prefetch or compiled.update_prefetch:  # run by SQLAlchemy's execute
        raise ValueError("first_row runs no Python-side column defaults: a write must give "
                         "a value to every column that has one")
    binds = compiled.binds
    params = [(name, binds[name].type.dialect_impl(dialect).bind_processor(dialect),
               None if binds[name].required else binds[name].effective_value)
              for name in compiled.positiontup or ()]
    selected = list(query.exported_columns)
    columns = [column.type.dialect_impl(dialect).result_processor(dialect, None)
               for column in selected]
    row = namedtuple("Row", [column.key for column in selected])  # type: ignore[misc]
    return _Prepared(str(compiled), params, columns, row)


async def first_row(connection: AsyncConnection, query: Rows,
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
    usual, through SQLAlchemy.

    A write with `RETURNING` (an INSERT or UPDATE of the hot path) is the same one trip
    instead of four: the transaction is begun through SQLAlchemy first, as its own
    `execute` would begin it, so SQLAlchemy commits or rolls back what the driver
    wrote (sqlite3 sends the BEGIN before the write), and the write is noted for
    `wrote`. No row back means nothing was written (a conflict, or no row matched).
    Such a write must give every column with a Python-side default (`default=`,
    `onupdate=`) its value: those are SQLAlchemy's execution's to run, and a statement
    that leaves one out is refused."""
    if connection.dialect.name != "sqlite":
        return (await connection.execute(query, params)).first()
    if query.is_dml:
        if not connection.in_transaction():
            await connection.begin()
        connection.info[_WROTE] = True
    prepared = _PREPARED.get(query)
    if prepared is None:
        prepared = _PREPARED[query] = _prepare(query, connection.dialect)
    values = [process(value) if process else value
              for value, process in ((params.get(name, fixed), process)
                                     for name, process, fixed in prepared.params)]
    driver = (await connection.get_raw_connection()).driver_connection
    assert driver is not None  # a checked-out connection has its driver's connection
    rows = await driver.execute_fetchall(prepared.sql, values)
    if not rows:
        return None
    return prepared.row(*[process(value) if process else value
                          for process, value in zip(prepared.columns, rows[0], strict=True)])


async def session_row(db: AsyncSession, query: Rows, params: dict[str, Any]) -> Any | None:
    """`first_row` for a session: on the connection it is bound to (a step's session:
    the step's connection, so the read begins no transaction), else on the session's
    own connection."""
    connection = db.bind if isinstance(db.bind, AsyncConnection) else await db.connection()
    return await first_row(connection, query, params)


@dataclass(frozen=True)
class _Entity:
    """A read of one mapped class: the class, the attribute each selected column fills,
    and the attributes of its primary key."""

    model: type[Any]
    attributes: Sequence[str]
    key: Sequence[str]


# By statement, as `_PREPARED`.
_ENTITIES: dict[Select[Any], _Entity] = {}


def _entity(query: Select[Any]) -> _Entity:
    model = query.column_descriptions[0]["entity"]
    mapper = inspect(model)
    return _Entity(model, [mapper.get_property_by_column(column).key
                           for column in query.selected_columns],
                   [mapper.get_property_by_column(column).key for column in mapper.primary_key])


async def first_entity(db: AsyncSession, query: Select[E],
                       params: dict[str, Any]) -> E | None:
    """The first object of a read of one mapped class (`select(Model)...`), in the
    session as if the ORM had loaded it: a change to it is flushed as an UPDATE.

    On PostgreSQL this is the ORM's own `execute`. On SQLite the ORM's read takes three
    trips to aiosqlite's thread, `first_row` one: the row is read with it (on the step's
    connection when the session is bound to one, without beginning a transaction), and
    the object made from it is handed to the session with `make_transient_to_detached`
    and `add`, the ORM's public way to attach an object loaded elsewhere (its attributes
    then count as loaded, not as changes). An object the session already holds is
    returned as is."""
    if db.get_bind().dialect.name != "sqlite":
        return (await db.execute(query, params)).scalars().first()
    entity = _ENTITIES.get(query)
    if entity is None:
        entity = _ENTITIES[query] = _entity(query)
    row = await session_row(db, query, params)
    if row is None:
        return None
    values = dict(zip(entity.attributes, row, strict=True))
    held = db.identity_map.get(inspect(entity.model).identity_key_from_primary_key(
        [values[name] for name in entity.key]))
    if held is not None:
        return cast(E, held)
    loaded = entity.model(**values)
    make_transient_to_detached(loaded)
    db.add(loaded)
    return cast(E, loaded)


# ---- a changed object written in one trip ----------------------------------------------

# Mapped classes whose changed objects `store_changes` writes itself.
_ONE_TRIP: set[type[Any]] = set()
# The UPDATE of a class for a set of changed attributes, built once.
_UPDATES: dict[tuple[type[Any], frozenset[str]], UpdateBase] = {}


def update_in_one_trip(model: type[Any]) -> None:
    """Let `store_changes` write `model`'s changed objects (a class of the hot path whose
    objects change in their own columns only)."""
    _ONE_TRIP.add(model)


def _update_of(model: type[Any], changed: frozenset[str]) -> UpdateBase:
    statement = _UPDATES.get((model, changed))
    if statement is None:
        mapper = inspect(model)
        key = [mapper.get_property_by_column(column).key for column in mapper.primary_key]
        statement = _UPDATES[(model, changed)] = (
            update(model)
            .where(*[getattr(model, name) == bindparam(f"k_{name}") for name in key])
            .values({name: bindparam(f"v_{name}") for name in sorted(changed)})
            .returning(*mapper.primary_key))
    return statement


async def store_changes(db: AsyncSession) -> None:
    """Write the changed objects of the classes `update_in_one_trip` names, each as one
    UPDATE of the attributes that changed (the statement the ORM's flush would run), in
    one trip to SQLite's thread with `first_row` instead of the flush's three and its
    unit of work; each object then stays in the session as flushed, unchanged (the
    public `make_transient` and `make_transient_to_detached`, then `add`, as
    `first_entity` attaches a row it read). An object whose relationships changed, and
    any session that also adds or deletes objects, is left to the ORM, as is everything
    on PostgreSQL. As the ORM, a row that is gone raises `StaleDataError`."""
    if not _ONE_TRIP or db.new or db.deleted or db.get_bind().dialect.name != "sqlite":
        return
    for changed_object in list(db.dirty):
        model = type(changed_object)
        if model not in _ONE_TRIP:
            continue
        state = inspect(changed_object)
        columns = state.mapper.column_attrs
        changed = frozenset(attribute.key for attribute in state.attrs
                            if attribute.history.has_changes())
        if not changed or any(name not in columns for name in changed):
            continue  # set back to what it was, or a relationship: the ORM's to flush
        key = {f"k_{name}": value for name, value in
               zip((state.mapper.get_property_by_column(column).key
                    for column in state.mapper.primary_key), state.identity or (), strict=True)}
        values = {f"v_{name}": getattr(changed_object, name) for name in changed}
        if await session_row(db, _update_of(model, changed), key | values) is None:
            raise StaleDataError(f"{model.__name__} {state.identity} is gone")
        db.expunge(changed_object)
        make_transient(changed_object)
        make_transient_to_detached(changed_object)
        db.add(changed_object)


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
