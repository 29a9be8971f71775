"""Sessions live in the database: they survive a restart, and migrations go up and down."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import inspect, select, text

from bot.app import build_app
from bot.db.engine import MigrationFailed, alembic_config, create_engine, migrate, migrate_in_child
from bot.db.models import ChatSession
from tests.conftest import Chat, make_settings


async def test_conversation_resumes_after_a_restart(database_url: str) -> None:
    first = await build_app(make_settings(database_url))
    chat = Chat(first, "restart", language_hint="en")
    await chat.text("/start")
    await chat.text("/language")  # now waiting for a language
    await first.close()

    second = await build_app(make_settings(database_url))
    try:
        chat = Chat(second, "restart")
        await chat.text("Русский")  # typed, not pressed: only the stored state knows why
        assert "Главное меню" in chat.texts()
        async with second.engine.sessionmaker() as db:
            session = (await db.execute(select(ChatSession))).scalar_one()
        assert session.state is None
    finally:
        await second.close()


async def count_step(ctx) -> None:  # type: ignore[no-untyped-def]
    """A step that changes the session every time: a counter, and the order of calls."""
    ctx.data["n"] = ctx.data.get("n", 0) + 1
    ctx.data.setdefault("seen", []).append(ctx.event.payload)
    ctx.say(str(ctx.data["n"]))


async def test_one_users_updates_are_handled_in_order(app, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setitem(app.engine.router.buttons, "count", count_step)
    chat = Chat(app, "busy", language_hint="en")
    await chat.text("/start")
    results = await asyncio.gather(*(chat.press(f"count:{n}") for n in range(20)))
    assert [replies[0].text for replies in results] == [str(n) for n in range(1, 21)]
    async with app.engine.sessionmaker() as db:
        session = (await db.execute(select(ChatSession))).scalar_one()
    assert session.data["seen"] == [f"count:{n}" for n in range(20)]


async def test_two_workers_on_one_user_do_not_lose_updates(database_url: str) -> None:
    one = await build_app(make_settings(database_url))
    two = await build_app(make_settings(database_url), apply_migrations=False)
    try:
        for worker in (one, two):
            worker.engine.router.buttons["count"] = count_step
        await Chat(one, "shared", language_hint="en").text("/start")
        presses = [Chat(worker, "shared").press("count") for worker in (one, two) * 5]
        await asyncio.gather(*presses)
        async with one.engine.sessionmaker() as db:
            session = (await db.execute(select(ChatSession))).scalar_one()
        assert session.data["n"] == 10  # every update stored once, none overwritten
    finally:
        for worker in (one, two):
            worker.engine.router.buttons.pop("count", None)
        await one.close()
        await two.close()


async def test_nothing_is_written_when_nothing_changed(app) -> None:  # type: ignore[no-untyped-def]
    chat = Chat(app, "quiet", language_hint="en")
    await chat.text("/start")
    await chat.press("num")
    async with app.engine.sessionmaker() as db:
        before = (await db.execute(select(ChatSession))).scalar_one().version
    await chat.press("num")  # the same screen again
    async with app.engine.sessionmaker() as db:
        assert (await db.execute(select(ChatSession))).scalar_one().version == before


async def test_showing_screens_writes_no_session(app) -> None:  # type: ignore[no-untyped-def]
    chat = Chat(app, "browsing", language_hint="en")
    await chat.text("/start")
    async with app.engine.sessionmaker() as db:
        before = (await db.execute(select(ChatSession))).scalar_one().version
    for payload in ("prj", "prj:bereke", "num", "help", "set", "menu"):
        await chat.press(payload)
        assert chat.texts()
    await chat.text("/menu")
    async with app.engine.sessionmaker() as db:
        session = (await db.execute(select(ChatSession))).scalar_one()
    assert (session.version, session.state, session.data) == (before, None, {})


async def test_migrations_up_down_up(database_url: str) -> None:
    engine = create_engine(database_url)
    try:
        await migrate(engine)
        async with engine.connect() as connection:
            tables = await connection.run_sync(lambda c: set(inspect(c).get_table_names()))
        assert {"users", "sessions", "alembic_version"} <= tables
        await migrate(engine, "base", action="downgrade")
        async with engine.connect() as connection:
            tables = await connection.run_sync(lambda c: set(inspect(c).get_table_names()))
        assert tables <= {"alembic_version"}
        await migrate(engine)
        await migrate(engine)  # idempotent
    finally:
        await engine.dispose()


async def test_models_match_the_migrations(database_url: str) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from bot.db.models import Base

    engine = create_engine(database_url)
    try:
        await migrate(engine)
        async with engine.connect() as connection:
            diff = await connection.run_sync(
                lambda c: compare_metadata(MigrationContext.configure(c), Base.metadata))
        assert diff == []
    finally:
        await engine.dispose()


def alembic_head() -> str:
    from alembic.script import ScriptDirectory

    return str(ScriptDirectory.from_config(alembic_config()).get_current_head())


async def test_migrations_in_a_child_process(database_url: str) -> None:
    """`run` applies the migrations in a child process (the server never loads alembic):
    afterwards the schema is at head, and the app starts without migrating itself."""
    await migrate_in_child(database_url)
    engine = create_engine(database_url)
    try:
        async with engine.connect() as connection:
            tables = await connection.run_sync(lambda c: set(inspect(c).get_table_names()))
            version = (await connection.execute(
                text("SELECT version_num FROM alembic_version"))).scalar_one()
        assert {"users", "sessions", "reminders", "whatsapp_inbox"} <= tables
        assert version == alembic_head()
    finally:
        await engine.dispose()
    app = await build_app(make_settings(database_url), apply_migrations=False)
    try:
        chat = Chat(app)
        assert (await chat.text("/start"))[0].text
    finally:
        await app.close()


async def test_a_failed_migration_in_the_child_says_why(tmp_path: Path) -> None:
    with pytest.raises(MigrationFailed) as failure:
        await migrate_in_child(f"sqlite+aiosqlite:///{tmp_path}")  # a folder
    assert str(failure.value)


def test_serving_does_not_load_alembic() -> None:
    """What `python -m bot run` imports to serve (migrations run in a child)."""
    code = ("import sys, bot.__main__, bot.runner, bot.app, bot.web.app, "
            "bot.channels.telegram, bot.channels.whatsapp; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] == 'alembic'))")
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True).stdout.strip()
    assert loaded == "[]"
