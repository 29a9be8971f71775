"""The SQLite connection that makes one trip to its thread per statement (bot/db/sqlite.py):
same results as aiosqlite, fewer trips."""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Column, Integer, MetaData, String, Table, exc, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.db import sqlite
from bot.db.engine import create_engine

metadata = MetaData()
items = Table("items", metadata,
              Column("id", Integer, primary_key=True),
              Column("name", String(50), unique=True, nullable=False),
              Column("score", Integer, nullable=False, default=0))

MANY = sqlite.PREFETCH * 3 + 7  # more rows than one trip fetches


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'driver.db'}")
    async with engine.begin() as connection:
        await connection.run_sync(metadata.create_all)
    try:
        yield engine
    finally:
        await engine.dispose()


@pytest.fixture
def trips(monkeypatch: pytest.MonkeyPatch) -> Counter[str]:
    """Counts the calls run on the database thread, by name."""
    counted: Counter[str] = Counter()
    original = sqlite.OneTripConnection._execute

    async def counting(self: Any, fn: Any, *args: Any, **kwargs: Any) -> Any:
        counted[getattr(fn, "__name__", repr(fn))] += 1
        return await original(self, fn, *args, **kwargs)

    monkeypatch.setattr(sqlite.OneTripConnection, "_execute", counting)
    return counted


async def _fill(engine: AsyncEngine, count: int) -> None:
    async with engine.begin() as connection:
        await connection.execute(insert(items), [{"name": f"n{i:05}", "score": i}
                                                 for i in range(count)])


async def test_the_engine_uses_the_one_trip_connection(engine: AsyncEngine) -> None:
    async with engine.connect() as connection:
        raw = await connection.get_raw_connection()
        assert isinstance(raw.driver_connection, sqlite.OneTripConnection)


async def test_a_query_is_one_trip_and_a_read_needs_no_commit(
        engine: AsyncEngine, trips: Counter[str]) -> None:
    await _fill(engine, 3)
    trips.clear()
    async with engine.begin() as connection:
        row = (await connection.execute(select(items.c.name).where(items.c.score == 1))).one()
    assert row.name == "n00001"
    assert sum(trips.values()) == 1, trips  # no cursor, fetch, close, commit or rollback trip


async def test_a_write_is_one_trip_and_its_commit_another(
        engine: AsyncEngine, trips: Counter[str]) -> None:
    await _fill(engine, 3)
    trips.clear()
    async with engine.begin() as connection:
        result = await connection.execute(update(items).where(items.c.score >= 1)
                                          .values(score=items.c.score + 10))
        assert result.rowcount == 2
    assert trips == Counter({"_run": 1, "commit": 1})
    async with engine.connect() as connection:
        scores = (await connection.execute(select(items.c.score).order_by(items.c.id))).scalars()
        assert list(scores) == [0, 11, 12]


async def test_large_results_arrive_whole_and_in_order(engine: AsyncEngine) -> None:
    await _fill(engine, MANY)
    async with engine.connect() as connection:
        names = (await connection.execute(select(items.c.name).order_by(items.c.id))).scalars()
        assert list(names) == [f"n{i:05}" for i in range(MANY)]
        # A server-side (streamed) result fetches in batches.
        streamed: list[int] = []
        result = await connection.stream(select(items.c.score).order_by(items.c.id))
        async for partition in result.partitions(100):
            assert len(partition) <= 100
            streamed.extend(row.score for row in partition)
        assert streamed == list(range(MANY))
        # A result left half-read does not disturb the next statement.
        half = await connection.stream(select(items.c.score).order_by(items.c.id))
        assert [row.score for row in await half.fetchmany(3)] == [0, 1, 2]
        await half.close()
        assert (await connection.execute(select(func.count()).select_from(items))).scalar() \
            == MANY


async def test_inserted_ids_and_row_counts(engine: AsyncEngine) -> None:
    async with engine.begin() as connection:
        first = await connection.execute(insert(items).values(name="a"))
        second = await connection.execute(insert(items).values(name="b"))
        assert first.inserted_primary_key is not None
        assert second.inserted_primary_key is not None
        assert second.inserted_primary_key[0] == first.inserted_primary_key[0] + 1
        returned = await connection.execute(insert(items).values(name="c").returning(items.c.id))
        assert returned.scalar_one() == second.inserted_primary_key[0] + 1


async def test_errors_roll_back_and_the_connection_goes_on(engine: AsyncEngine) -> None:
    await _fill(engine, 1)
    with pytest.raises(exc.IntegrityError):
        async with engine.begin() as connection:
            await connection.execute(insert(items).values(name="kept"))
            await connection.execute(insert(items).values(name="n00000"))  # unique
    with pytest.raises(exc.OperationalError):
        async with engine.connect() as connection:
            await connection.exec_driver_sql("SELECT * FROM no_such_table")
    async with engine.connect() as connection:
        names = (await connection.execute(select(items.c.name))).scalars().all()
    assert names == ["n00000"]  # "kept" was rolled back with its transaction


async def test_an_explicit_rollback_undoes_the_write(engine: AsyncEngine) -> None:
    async with engine.connect() as connection:
        await connection.execute(insert(items).values(name="gone"))
        await connection.rollback()
        assert (await connection.execute(select(func.count()).select_from(items))).scalar() == 0


async def test_reads_on_the_calling_thread(engine: AsyncEngine, trips: Counter[str]) -> None:
    await _fill(engine, 3)
    trips.clear()
    async with engine.begin() as connection:
        driver = await sqlite.one_trip(connection)
        assert driver is not None
        with driver.reading_here():
            names = (await connection.execute(select(items.c.name).order_by(items.c.id)))
            assert names.scalars().all() == ["n00000", "n00001", "n00002"]
            assert trips == Counter()  # no trip for the read
            await connection.execute(update(items).values(score=5))  # a write still goes
        assert not driver.reads_here
    assert trips == Counter({"_run": 1, "commit": 1})


async def test_the_last_write_commits_in_its_own_trip(engine: AsyncEngine,
                                                      trips: Counter[str]) -> None:
    await _fill(engine, 2)
    trips.clear()
    async with engine.begin() as connection:
        driver = await sqlite.one_trip(connection)
        assert driver is not None
        await connection.execute(update(items).where(items.c.score == 0).values(score=10))
        driver.commit_with_next(1)
        await connection.execute(update(items).where(items.c.score == 1).values(score=11))
    assert trips == Counter({"_run": 2})  # the commit rode along with the second write
    async with engine.connect() as connection:
        assert (await connection.execute(select(items.c.score).order_by(items.c.id))
                ).scalars().all() == [10, 11]


async def test_a_write_that_misses_does_not_commit(engine: AsyncEngine) -> None:
    await _fill(engine, 1)
    async with engine.connect() as connection:
        driver = await sqlite.one_trip(connection)
        assert driver is not None
        await connection.execute(insert(items).values(name="undone"))
        driver.commit_with_next(1)
        missed = await connection.execute(update(items).where(items.c.score == 99)
                                          .values(score=0))
        assert missed.rowcount == 0
        await connection.rollback()  # what the engine does when a session changed meanwhile
        names = (await connection.execute(select(items.c.name))).scalars().all()
    assert names == ["n00000"]


async def test_a_menu_step_costs_one_trip(tmp_path: Path, trips: Counter[str]) -> None:
    """The engine's hot path: the session read on the calling thread, the session write
    and its commit in one trip."""
    from bot.app import build_app
    from tests.conftest import Chat, make_settings

    app = await build_app(make_settings(f"sqlite+aiosqlite:///{tmp_path / 'bot.db'}"))
    try:
        chat = Chat(app, language_hint="kk")
        await chat.text("/start")
        await chat.press("prj")
        trips.clear()
        await chat.press("menu")
        assert trips == Counter({"_run": 1})
        trips.clear()
        await chat.press("menu")  # the same screen again: nothing to write
        assert trips == Counter()
    finally:
        await app.close()
