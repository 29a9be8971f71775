"""Engine creation and migrations."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import event, text
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlalchemy.pool import AsyncAdaptedQueuePool

from bot import MIGRATIONS_DIR, PROJECT_DIR

if TYPE_CHECKING:
    from alembic.config import Config

# Seconds a statement waits for another connection's write lock on SQLite.
SQLITE_BUSY_TIMEOUT = 30


def create_engine(url: str) -> AsyncEngine:
    """The app's engine. A statement's bound values (names, phone numbers) stay out of
    its errors and logs (`hide_parameters`): logs carry no personal data."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return create_async_engine(url, pool_pre_ping=True, hide_parameters=True)
    database = parsed.database
    if database and database != ":memory:":
        Path(database).parent.mkdir(parents=True, exist_ok=True)
    # SQLite takes one writer at a time: one connection (and so one aiosqlite thread)
    # spares the lock waits and thread switches of a larger pool (bench/). `timeout` is
    # sqlite3's busy timeout, for another process (a migration, a second worker) that
    # holds the write lock. Every use of a connection goes through SQLAlchemy, whose
    # `Connection.close()` rolls back a transaction left open, so the pool's own
    # rollback of each returned connection (a trip to aiosqlite's thread after every
    # commit) has nothing left to do and is turned off.
    engine = create_async_engine(url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT},
                                 poolclass=AsyncAdaptedQueuePool, pool_size=1, max_overflow=0,
                                 pool_reset_on_return=None, hide_parameters=True)
    event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
    return engine


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    """Each new SQLite connection: foreign keys enforced, WAL (readers never wait for the
    writer), and fsync at checkpoints only, which WAL keeps safe from corruption."""
    cursor = dbapi_connection.cursor()
    for pragma in ("foreign_keys=ON", "journal_mode=WAL", "synchronous=NORMAL"):
        cursor.execute(f"PRAGMA {pragma}")
    cursor.close()


def session_factory(engine: AsyncEngine) -> async_sessionmaker[Any]:
    return async_sessionmaker(engine, expire_on_commit=False)


def alembic_config(url: str | None = None) -> Config:
    # alembic (with mako and pygments, about 11 MB) is imported only where migrations
    # run: `python -m bot run` applies them in a child process (`migrate_in_child`).
    from alembic.config import Config

    config = Config(str(PROJECT_DIR / "alembic.ini"))
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    if url:
        config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


MIGRATION_LOCK = 0x07A1DA5  # PostgreSQL advisory lock key: one migrating process at a time


def _run(connection: Connection, action: str, revision: str) -> None:
    from alembic import command

    config = alembic_config()
    config.attributes["connection"] = connection
    getattr(command, action)(config, revision)


async def migrate(engine: AsyncEngine, revision: str = "head", action: str = "upgrade") -> None:
    """Run `alembic upgrade head` (or downgrade) on the engine's database."""
    async with engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            # Processes starting together migrate one after the other (the lock is held
            # to the end of this transaction); the later ones find nothing to do.
            await connection.execute(text("SELECT pg_advisory_xact_lock(:key)"),
                                     {"key": MIGRATION_LOCK})
        await connection.run_sync(_run, action, revision)


class MigrationFailed(Exception):
    """`python -m bot migrate` in a child process did not finish; its output says why."""


async def migrate_in_child(url: str) -> None:
    """`python -m bot migrate` on `url` in a child process, so that a serving process
    never loads alembic: the same migrations, and the server's memory stays the size
    of what it serves with."""
    child = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", "migrate", env={**os.environ, "DATABASE_URL": url},
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE)
    _, errors = await child.communicate()
    if child.returncode != 0:
        raise MigrationFailed(errors.decode(errors="replace").strip()
                              or f"exit code {child.returncode}")


async def database_ok(engine: AsyncEngine, limit: float = 2.0) -> bool:
    async def probe() -> None:
        async with engine.connect() as connection:
            await connection.execute(text("SELECT 1"))

    try:
        await asyncio.wait_for(probe(), limit)
    except Exception:
        return False
    return True
