"""What SQLite and PostgreSQL do differently, in one place.

Code outside this module asks these helpers instead of testing the dialect's name:

- `insert_for(db)`: the `INSERT` with `ON CONFLICT …` (upserts) of the database in use;
- `skip_locked(db, query)`: rows chosen for an update that concurrent transactions
  skip instead of waiting for (`FOR UPDATE SKIP LOCKED` on PostgreSQL; SQLite has one
  writer at a time, so a plain `SELECT` is already exclusive there);
- `year_month(db, column)`: a timestamp as `YYYY-MM`, for statistics per month.
"""

from __future__ import annotations

from typing import Any, TypeVar

from sqlalchemy import ColumnElement, Select, func
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

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
