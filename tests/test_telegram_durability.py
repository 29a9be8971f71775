"""An acknowledged Telegram update is never lost, and none is handled twice: through a
database outage (both modes, both databases) and a redelivery."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import random
import sys
from pathlib import Path
from typing import Any

import pytest
from aiohttp import ClientSession
from sqlalchemy import func, select

import bot.db.engine
from bot import PROJECT_DIR
from bot.app import build_app
from bot.core.engine import update_key
from bot.db.models import HandledUpdate, Registration, RegistrationStatus, User
from tests.conftest import make_settings
from tests.fakes.telegram_api import FakeTelegramAPI
from tests.forum_helpers import make_forum
from tests.outages import outage_switch
from tests.telegram_harness import SECRET, RunningBot, free_port, is_menu, running_bot

USERS = range(6101, 6111)


async def test_an_update_delivered_again_is_handled_once(bot: RunningBot) -> None:
    """Telegram delivers an update again when it did not see the acknowledgement (the
    webhook's 200 lost, the polling offset not confirmed): a step that stored something
    is not run again (a screen that only shows something may be shown again)."""
    api = bot.api
    assert is_menu((await bot.say(6001, "/start", language_code="en"))[-1])
    await bot.say(6001, "/language")
    mark = api.mark()
    update = await api.press(6001, "lang:ru")
    await api.wait_for(lambda: len(api.replies(6001, mark)) == 1, 5, "the change of language")
    mark = api.mark()
    await api.redeliver(update)
    await api.redeliver(update)
    await api.settle(0.3)
    assert api.replies(6001, mark) == []  # not run again: no second "language changed"
    async with bot.app.engine.sessionmaker() as db:
        keys = (await db.execute(select(HandledUpdate.key))).scalars().all()
        language = (await db.execute(
            select(User.language).where(User.external_id == "6001"))).scalar_one()
    assert update_key("telegram", str(update["update_id"])) in keys
    assert language == "ru"


async def _replies_to(api: FakeTelegramAPI, user: int, since: int) -> list[str]:
    return [call.text for call in api.replies(user, since)]


@pytest.mark.parametrize("telegram_mode", ["polling", "webhook"])
async def test_a_database_outage_loses_no_update(
        database_url: str, api: FakeTelegramAPI, handled: set[tuple[Any, ...]],
        telegram_mode: str, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    """The database goes away under traffic for two seconds (PostgreSQL: every
    connection dropped; SQLite: its write lock held, so a step that stores something
    cannot): nothing is acknowledged that is not stored (webhook: 503, polling: the
    offset kept), a chat's later updates wait behind it, /healthz says 503 (PostgreSQL),
    the log has a few lines and no traceback, and every update of the outage is
    handled once the database is back, in order per user."""
    monkeypatch.setattr(bot.db.engine, "SQLITE_BUSY_TIMEOUT", 0.2)
    api.redeliver_for = 60
    async with outage_switch(database_url) as outage, \
            running_bot(outage.url, api, handled, telegram_mode=telegram_mode) as running:
        for user in USERS:
            assert is_menu((await running.say(user, "/start", language_code="en"))[-1])
            await running.say(user, "/language")
        mark = api.mark()
        caplog.clear()
        caplog.set_level(logging.INFO)
        await outage.begin()

        async def user_writes(user: int) -> None:
            await api.press(user, "lang:ru")  # a step that stores something
            await api.send_text(user, "/menu")  # one that only shows: after it, in order

        sent = [asyncio.create_task(user_writes(user)) for user in USERS]
        await asyncio.sleep(2.0)
        during = {user: await _replies_to(api, user, mark) for user in USERS}
        if outage.postgresql:
            async with ClientSession() as http, \
                    http.get(f"{running.base_url}/healthz") as health:
                assert health.status == 503
        await outage.end()
        await asyncio.wait_for(asyncio.gather(*sent), 60)
        await api.wait_for(
            lambda: all(len(api.replies(user, mark)) >= 2 for user in USERS), 30,
            "every update of the outage handled")
        await api.settle(0.3)

        assert during == {user: [] for user in USERS}  # nothing handled meanwhile
        for user in USERS:
            replies = api.replies(user, mark)
            assert len(replies) == 2, (user, [r.text for r in replies])  # none twice
            assert replies[0].text.startswith("Хорошо") and is_menu(replies[1])  # in order
        if telegram_mode == "webhook":
            statuses = {status for _, status in api.deliveries}
            assert 503 in statuses and 500 not in statuses
        sent_updates, lost = 2 * len(USERS), 0
        assert sent_updates == 20 and lost == 0
        async with running.app.engine.sessionmaker() as db:
            stored = (await db.execute(select(func.count()).select_from(HandledUpdate))) \
                .scalar_one()
            languages = set((await db.execute(
                select(User.language).where(User.external_id.in_(
                    [str(user) for user in USERS])))).scalars())
        assert stored == 3 * len(USERS)  # /start, /language, the choice; /menu stores nothing
        assert languages == {"ru"}

    tracebacks = [record for record in caplog.records if record.exc_info]
    loud = [record.getMessage() for record in caplog.records
            if record.levelno >= logging.WARNING]
    refused = sum(1 for _, status in api.deliveries if status == 503)
    print(f"outage ({telegram_mode}): sent {sent_updates}, handled {sent_updates - lost}, "
          f"lost {lost}, 503 answers {refused}, log lines >= WARNING {len(loud)}, "
          f"tracebacks {len(tracebacks)}")
    assert tracebacks == []
    assert any("database unavailable" in line for line in loud)
    assert any("database available again" in line for line in loud)
    assert len(loud) <= 8, loud


def _bot_process_env(database_url: str, api: FakeTelegramAPI, port: int) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items()
           if not key.startswith(("TELEGRAM_", "WHATSAPP_", "BOT_", "DATABASE_"))}
    env.update(DATABASE_URL=database_url, BOT_TOKEN=api.token, TELEGRAM_API_URL=api.url,
               TELEGRAM_MODE="webhook", TELEGRAM_WEBHOOK_SECRET=SECRET,
               TELEGRAM_WEBHOOK_URL=f"http://127.0.0.1:{port}/telegram/webhook",
               HTTP_HOST="127.0.0.1", HTTP_PORT=str(port), DEFAULT_LOCALE="en",
               LOG_LEVEL="WARNING")
    return env


def registration_script(forum_id: int) -> list[tuple[str, str]]:
    """What a user does from /start to a confirmed registration."""
    return [("text", "/start"), ("press", "fo"), ("press", f"fo:v:{forum_id}"),
            ("press", f"fo:r:{forum_id}"), ("text", "Aigerim Seitova"), ("text", "Germany"),
            ("text", "Berlin"), ("text", "-"), ("press", "rg:sector:trade"),
            ("text", "+4915112345678"), ("press", "rg:skip"), ("press", "rg:agree"),
            ("press", "rg:go")]


async def test_sigkill_under_registrations_loses_no_update(
        database_url: str, api: FakeTelegramAPI, tmp_path: Path) -> None:
    """`python -m bot run` in webhook mode, SIGKILLed three times while users register
    for a forum, started again each time: Telegram (the fake) delivers every update
    not acknowledged again, and every user ends with exactly one confirmed
    registration; no update acknowledged is lost, none is handled twice.

    A step's replies are sent once it is stored: a kill in the milliseconds between
    leaves the step stored and that reply unsent (the delivery again is recognised and
    not run twice), so a press may come on the user's own message here."""
    app = await build_app(make_settings(database_url))
    async with app.engine.sessionmaker() as db, db.begin():
        forum_id = (await make_forum(db, capacity=100)).id
    await app.close()

    port = free_port()
    env = _bot_process_env(database_url, api, port)
    log_file = (tmp_path / "bot.log").open("wb")
    api.redeliver_for = 120
    process: asyncio.subprocess.Process | None = None

    async def start() -> asyncio.subprocess.Process:
        """Started and serving HTTP. The first process sets the webhook; one started
        after a kill serves it at once, and sets it again only when the killed leader's
        lease has run out (PostgreSQL)."""
        mark = api.mark()
        child = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bot", "run", env=env, cwd=PROJECT_DIR,
            stdout=log_file, stderr=log_file)
        if process is None:
            await api.wait_for(lambda: child.returncode is not None
                               or api.calls_to("setWebhook", mark), 60, "the bot to start")
        async with ClientSession() as http:
            for _ in range(600):
                if child.returncode is not None:
                    break
                with contextlib.suppress(OSError):
                    async with http.get(f"http://127.0.0.1:{port}/healthz") as health:
                        if health.status == 200:
                            break
                await asyncio.sleep(0.1)
        assert child.returncode is None, (tmp_path / "bot.log").read_text()
        return child

    users = list(range(6201, 6211))
    script = registration_script(forum_id)
    done: set[int] = set()

    async def register(user: int) -> None:
        for kind, value in script:
            if kind == "text":
                await api.send_text(user, value, language_code="en")
            else:  # on the bot's newest message (or the user's own, see the note)
                chat = api.messages(user) or api.history[user]
                await api.press_data(user, value, message_id=chat[-1].message_id)
        done.add(user)

    try:
        process = await start()
        tasks = [asyncio.create_task(register(user)) for user in users]
        kills = 0
        rng = random.Random(20261201)
        while kills < 3 and len(done) < len(users):
            await asyncio.sleep(rng.uniform(0.0, 1.5))
            process.kill()  # SIGKILL: no handler runs, nothing is flushed
            await process.wait()
            kills += 1
            process = await start()
        await asyncio.wait_for(asyncio.gather(*tasks), 120)
    finally:
        if process is not None and process.returncode is None:
            process.terminate()
            await process.wait()
        log_file.close()

    sent = len(users) * len(script)
    acknowledged = {update_id for update_id, status in api.deliveries if status == 200}
    assert kills == 3 and len(acknowledged) == sent
    app = await build_app(make_settings(database_url), apply_migrations=False)
    try:
        async with app.engine.sessionmaker() as db:
            rows = (await db.execute(
                select(User.external_id, Registration.status)
                .join(Registration, Registration.user_id == User.id)
                .where(Registration.forum_id == forum_id))).all()
            handled = (await db.execute(
                select(func.count()).select_from(HandledUpdate))).scalar_one()
    finally:
        await app.close()
    lost = len(users) - len(rows)
    print(f"sigkill: {kills} kills, {sent} updates sent, {len(acknowledged)} acknowledged, "
          f"{len(rows)} registrations, lost {lost}, {len(api.deliveries)} deliveries "
          f"(with the ones again)")
    assert lost == 0 and sorted(int(external_id) for external_id, _ in rows) == users
    assert {status for _, status in rows} == {RegistrationStatus.CONFIRMED}
    assert handled <= sent  # each update's step stored once (a screen stores nothing)
