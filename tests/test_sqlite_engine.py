"""SQLite through SQLAlchemy's own aiosqlite dialect, as `create_engine` tunes it: the
pragmas, one connection, transactions that end where SQLAlchemy ends them, and the
engine's hot path in a few statements."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, nullcontext
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import (
    Column,
    Integer,
    MetaData,
    String,
    Table,
    bindparam,
    exc,
    func,
    insert,
    select,
)
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.db.engine import SQLITE_BUSY_TIMEOUT, create_engine, session_factory

metadata = MetaData()
items = Table("items", metadata,
              Column("id", Integer, primary_key=True),
              Column("name", String(50), unique=True, nullable=False),
              Column("score", Integer, nullable=False, default=0))

MANY = 1500


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'engine.db'}")
    async with engine.begin() as connection:
        await connection.run_sync(metadata.create_all)
    try:
        yield engine
    finally:
        await engine.dispose()


@asynccontextmanager
async def statements(engine: AsyncEngine) -> AsyncIterator[list[str]]:
    """The SQL statements SQLite runs on the engine's one connection while the block
    runs, as sqlite3's trace callback sees them (transaction control included), whether
    SQLAlchemy sent them or the hot path's read (`bot.db.dialect.first_row`)."""
    sent: list[str] = []

    def note(statement: str) -> None:
        sent.append(" ".join(statement.split()))

    async with engine.connect() as connection:
        driver = (await connection.get_raw_connection()).driver_connection
    await driver.set_trace_callback(note)
    try:
        yield sent
    finally:
        await driver.set_trace_callback(None)


async def _count(engine: AsyncEngine) -> int:
    async with engine.connect() as connection:
        return int((await connection.execute(select(func.count()).select_from(items)))
                   .scalar_one())


async def test_each_connection_is_tuned(engine: AsyncEngine) -> None:
    async with engine.connect() as connection:
        pragma = {name: (await connection.exec_driver_sql(f"PRAGMA {name}")).scalar()
                  for name in ("journal_mode", "synchronous", "foreign_keys", "busy_timeout")}
    assert pragma == {"journal_mode": "wal", "synchronous": 1,  # NORMAL
                      "foreign_keys": 1, "busy_timeout": SQLITE_BUSY_TIMEOUT * 1000}
    assert engine.pool.size() == 1  # type: ignore[attr-defined]  # one writer


async def test_large_results_arrive_whole_and_in_order(engine: AsyncEngine) -> None:
    async with engine.begin() as connection:
        await connection.execute(insert(items), [{"name": f"n{i:05}", "score": i}
                                                 for i in range(MANY)])
    async with engine.connect() as connection:
        names = (await connection.execute(select(items.c.name).order_by(items.c.id))).scalars()
        assert list(names) == [f"n{i:05}" for i in range(MANY)]
        streamed: list[int] = []
        result = await connection.stream(select(items.c.score).order_by(items.c.id))
        async for partition in result.partitions(100):
            assert len(partition) <= 100
            streamed.extend(row.score for row in partition)
        assert streamed == list(range(MANY))


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
    async with engine.begin() as connection:
        await connection.execute(insert(items).values(name="first"))
    with pytest.raises(exc.IntegrityError):
        async with engine.begin() as connection:
            await connection.execute(insert(items).values(name="kept"))
            await connection.execute(insert(items).values(name="first"))  # unique
    with pytest.raises(exc.OperationalError):
        async with engine.connect() as connection:
            await connection.exec_driver_sql("SELECT * FROM no_such_table")
    async with engine.connect() as connection:
        names = (await connection.execute(select(items.c.name))).scalars().all()
    assert names == ["first"]  # "kept" was rolled back with its transaction


async def test_a_transaction_left_open_does_not_outlive_its_connection(
        engine: AsyncEngine) -> None:
    """The pool does not roll back returned connections (create_engine): SQLAlchemy's
    Connection and Session do it when they close with a transaction open."""
    async with engine.connect() as connection:
        await connection.execute(insert(items).values(name="never committed"))
    async with session_factory(engine)() as session:
        await session.execute(insert(items).values(name="never committed either"))
    assert await _count(engine) == 0
    async with engine.connect() as connection:
        await connection.execute(insert(items).values(name="gone"))
        await connection.rollback()
        await connection.execute(insert(items).values(name="committed"))
        await connection.commit()
    async with engine.connect() as connection:
        names = (await connection.execute(select(items.c.name))).scalars().all()
    assert names == ["committed"]


async def test_a_write_in_one_trip_is_in_sqlalchemys_transaction(engine: AsyncEngine) -> None:
    """`first_row` with a write's RETURNING (the hot path's writes): SQLAlchemy begins
    the transaction and sqlite3 the driver's before the write, so SQLAlchemy's rollback
    undoes it, a connection closed without a commit leaves nothing, and its commit keeps
    it; a write that changes no row (a conflict) returns none. A write that leaves out
    a column with a Python-side default (`score`) is refused: SQLAlchemy's execution
    would fill it in, the one trip would not."""
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert

    from bot.db.dialect import first_row, wrote

    statement = (sqlite_insert(items).values(name=bindparam("n"), score=0)
                 .on_conflict_do_nothing(index_elements=["name"]).returning(items.c.id))
    async with engine.connect() as connection:
        with pytest.raises(ValueError, match="Python-side column defaults"):
            await first_row(connection, insert(items).values(name=bindparam("n"))
                            .returning(items.c.id), {"n": "no score"})
    async with statements(engine) as sent, engine.connect() as connection:
        assert await first_row(connection, statement, {"n": "a"}) is not None
        assert connection.in_transaction() and wrote(connection)
        await connection.rollback()
    assert [s.split()[0] for s in sent] == ["BEGIN", "INSERT", "ROLLBACK"], sent
    async with engine.connect() as connection:
        assert await first_row(connection, statement, {"n": "left open"}) is not None
    assert await _count(engine) == 0
    async with engine.connect() as connection:
        assert await first_row(connection, statement, {"n": "a"}) is not None
        assert await first_row(connection, statement, {"n": "a"}) is None  # a conflict
        await connection.commit()
    async with engine.connect() as connection:
        rows = (await connection.execute(select(items.c.name, items.c.score))).all()
    assert [tuple(row) for row in rows] == [("a", 0)]


@pytest.fixture
async def started(tmp_path: Path) -> AsyncIterator[Any]:
    """A Kazakh-speaking user who has sent /start, to the whole bot on a SQLite file."""
    from bot.app import build_app
    from tests.conftest import Chat, make_settings

    app = await build_app(make_settings(f"sqlite+aiosqlite:///{tmp_path / 'bot.db'}"))
    try:
        chat = Chat(app, language_hint="kk")
        await chat.text("/start")
        yield chat
    finally:
        await app.close()


async def test_a_menu_step_is_one_read_and_writes_nothing(started: Any) -> None:
    """The engine's hot path: one joined SELECT for the user, the session and the role;
    a step that changes nothing writes nothing and begins no transaction, one that moves
    the session writes it once, in one transaction."""
    chat, app = started, started.app
    await chat.press("prj")
    async with statements(app.engine.database) as sent:
        await chat.press("menu")
    assert len(sent) == 1 and sent[0].startswith("SELECT users.id"), sent
    async with statements(app.engine.database) as sent:
        await chat.press("menu")  # the same screen again
        await chat.press("num")  # another screen
    assert len(sent) == 2 and all(s.startswith("SELECT") for s in sent), sent
    async with statements(app.engine.database) as sent:
        await chat.text("/language")  # the session now waits for a language
    assert [s.split()[0] for s in sent] == ["SELECT", "BEGIN", "UPDATE", "COMMIT"], sent
    assert sent[2].startswith("UPDATE sessions"), sent


async def test_a_step_writing_through_its_session_is_one_transaction(started: Any) -> None:
    """A flow's own writes (`ctx.db`) and the engine's (the update's id, the session) go
    in one transaction; a step that only reads through `ctx.db` stores nothing, not even
    its update's id."""
    from bot.core.events import Event, EventKind

    chat, app = started, started.app
    await chat.press("el:new")
    async with statements(app.engine.database) as sent:
        await app.engine.handle(Event(chat.identity, EventKind.BUTTON, update_id="41",
                                      payload="el:a:nationality:yes"))
    assert [" ".join(s.split()[:3]) for s in sent] == [
        "SELECT users.id, users.language,",
        "SELECT eligibility_checks.id, eligibility_checks.user_id,",
        "BEGIN", "UPDATE eligibility_checks SET", "INSERT INTO handled_updates",
        "COMMIT"], sent
    for answer in ("nationality_document:yes", "ever_citizen:no", "permanent:yes"):
        await chat.press(f"el:a:{answer}")
    await chat.text("Китай")
    for answer in ("family_size:2", "family_kazakh:all", "quota:yes"):
        await chat.press(f"el:a:{answer}")
    async with statements(app.engine.database) as sent:
        await chat.press("el:plan")  # reads the result, changes nothing
    assert [s.split()[0] for s in sent] == ["SELECT", "SELECT"], sent


async def test_the_hot_path_read_is_what_sqlalchemy_reads(app: Any) -> None:
    """`first_row` (one trip on SQLite, `execute` elsewhere) gives the row SQLAlchemy's
    own execution gives: the same values, typed the same (times in UTC, JSON as dicts)."""
    from bot.core.engine import _LOAD, _load_key
    from bot.core.events import Event, EventKind, Identity
    from bot.db.dialect import first_row
    from tests.conftest import Chat

    chat = Chat(app, user="77", language_hint="ru")
    await chat.text("/start")
    await chat.text("/language")  # a state and data in the session
    key = _load_key(Event(Identity(chat.identity.channel, "77"), EventKind.TEXT, text="x"))
    async with app.engine.database.connect() as connection:
        ours = await first_row(connection, _LOAD, key)
        theirs = (await connection.execute(_LOAD, key)).first()
        missing = await first_row(connection, _LOAD, {**key, "external_id": "nobody"})
    assert ours is not None and theirs is not None and missing is None
    assert tuple(ours) == tuple(theirs)
    assert ours.last_seen_at.tzinfo is not None and isinstance(ours.data, dict)
    assert [type(value) for value in ours] == [type(value) for value in theirs]


async def test_an_object_read_in_one_trip_is_the_orms_own(app: Any) -> None:
    """`first_entity` gives the object the ORM's own read gives, in the session as if
    the ORM had loaded it: nothing to flush until it changes, then one UPDATE of what
    changed; an object the session already holds is that same object; a LIMIT and a
    literal of the statement (`status = 'draft'`) are bound as the ORM binds them."""
    from sqlalchemy import select as orm_select
    from sqlalchemy.orm import Session

    from bot.core.engine import _StepSession
    from bot.db.dialect import first_entity
    from bot.db.models import CheckStatus, EligibilityCheck
    from bot.services import eligibility
    from tests.conftest import Chat

    chat = Chat(app, user="78", language_hint="en")
    await chat.text("/start")
    await chat.press("el:new")
    await chat.press("el:a:nationality:yes")
    async with app.engine.database.connect() as connection:
        user_id = (await connection.execute(
            orm_select(EligibilityCheck.user_id))).scalar_one()
        session_factory = _session_on(connection, _StepSession)
        async with session_factory() as db:
            ours = await eligibility.draft(db, user_id)
            assert ours is not None and ours in db and not db.dirty and not db.new
            again = await first_entity(db, eligibility._DRAFT, {"user_id": user_id})
            assert again is ours
            assert await eligibility.last_result(db, user_id) is None  # none finished
            ours.answers = {**ours.answers, "extra": "x"}
            assert list(db.dirty) == [ours]
            await db.flush()
        async with _session_on(connection, Session)() as db:
            theirs = (await db.execute(orm_select(EligibilityCheck).where(
                EligibilityCheck.status == CheckStatus.DRAFT))).scalar_one()
            names = [column.key for column in EligibilityCheck.__table__.columns]
            assert [getattr(theirs, name) for name in names if name != "answers"] == \
                [getattr(ours, name) for name in names if name != "answers"]
            assert theirs.answers == ours.answers and theirs.answers["extra"] == "x"
        await connection.rollback()


async def test_a_changed_object_written_in_one_trip_is_as_the_orm_flushed_it(app: Any) -> None:
    """`store_changes` writes a changed check as the one UPDATE of what changed, in the
    step's transaction, and leaves it in the session unchanged (nothing left to flush; a
    later change is flushed by the ORM as usual); a check whose row is gone raises
    `StaleDataError`, as the ORM's flush does. On PostgreSQL it leaves all of that to the
    ORM's flush, with the same result."""
    from sqlalchemy import delete as orm_delete
    from sqlalchemy import select as orm_select
    from sqlalchemy.orm.exc import StaleDataError

    from bot.core.engine import _StepSession
    from bot.db.dialect import store_changes
    from bot.db.models import EligibilityCheck
    from bot.services import eligibility
    from tests.conftest import Chat

    sqlite = app.engine.database.dialect.name == "sqlite"
    chat = Chat(app, user="79", language_hint="en")
    await chat.text("/start")
    await chat.press("el:new")
    traced = statements(app.engine.database) if sqlite else nullcontext([])
    async with traced as sent, app.engine.database.connect() as connection:
        user_id = (await connection.execute(
            orm_select(EligibilityCheck.user_id))).scalar_one()
        async with _session_on(connection, _StepSession)() as db:
            check = await eligibility.draft(db, user_id)
            assert check is not None
            check.answers = {**check.answers, "nationality": "yes"}
            check.path = [*check.path, "nationality"]
            if sqlite:
                del sent[:]
                await store_changes(db)
                assert [s.split(" SET ")[0] for s in sent] == [
                    "BEGIN", "UPDATE eligibility_checks"], sent
                assert " path=" in sent[1] and "status" not in sent[1].split(" WHERE ")[0]
                assert check in db and not db.dirty and not db.is_modified(check)
            else:
                await store_changes(db)
                assert db.is_modified(check)  # the ORM's to flush
            check.verdict = "eligible"
            await db.flush()  # the ORM's own flush of a later change
        await connection.commit()
    async with app.engine.database.connect() as connection:
        stored = (await connection.execute(orm_select(
            EligibilityCheck.answers, EligibilityCheck.path, EligibilityCheck.verdict))).one()
        assert tuple(stored) == ({"nationality": "yes"}, ["nationality"], "eligible")
        async with _session_on(connection, _StepSession)() as db:
            check = await eligibility.draft(db, user_id)
            assert check is not None
            await connection.execute(orm_delete(EligibilityCheck))  # gone meanwhile
            check.path = []
            with pytest.raises(StaleDataError):
                await store_changes(db)
                await db.flush()
        await connection.rollback()


def _session_on(connection: Any, kind: type) -> Any:
    from sqlalchemy.ext.asyncio import async_sessionmaker

    return async_sessionmaker(bind=connection, sync_session_class=kind,
                              expire_on_commit=False)
