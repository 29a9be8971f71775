"""Logs carry internal ids only: whole conversations on Telegram and on WhatsApp, with
the app's logging set up as `python -m bot run` does at LOG_LEVEL=DEBUG, error paths
included (a failing SQL statement with a name as a bound parameter, WhatsApp send and
delivery errors, a user who blocked the bot), leave no name, phone number, e-mail or
platform id of a user in the log."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncSession

from bot.app import setup_logging
from bot.db.models import User
from bot.services import privacy
from tests.conftest import make_settings
from tests.fakes.graph_api import WhatsAppUser, webhook
from tests.fakes.telegram_api import FakeTelegramAPI
from tests.forum_helpers import make_forum
from tests.telegram_harness import RunningBot, running_bot
from tests.test_handover import GROUP, LEAD, group, in_group, wait_mapped
from tests.test_whatsapp_webhook import make_wa

SORRY = "Sorry, something went wrong on my side"


@contextmanager
def app_log(database_url: str, log_format: str = "text") -> Iterator[io.StringIO]:
    """The app's logging at DEBUG (its handler, formatter and levels for libraries),
    written to a buffer; the test's own logging is put back afterwards."""
    root = logging.getLogger()
    loggers = {name: logger.level for name, logger in logging.root.manager.loggerDict.items()
               if isinstance(logger, logging.Logger)}
    handlers, level = root.handlers[:], root.level
    setup_logging(make_settings(database_url, log_level="DEBUG", log_format=log_format))
    buffer = io.StringIO()
    (handler,) = root.handlers
    assert isinstance(handler, logging.StreamHandler)
    handler.setStream(buffer)
    try:
        yield buffer
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)
        for name, logger in logging.root.manager.loggerDict.items():
            if isinstance(logger, logging.Logger):
                logger.setLevel(loggers.get(name, logging.NOTSET))


def failing_export(monkeypatch: pytest.MonkeyPatch) -> None:
    """`/mydata` runs a statement that fails with the user's name and ids bound to it."""

    async def export(db: AsyncSession, user_id: int) -> dict[str, Any]:
        user = await db.get(User, user_id)
        assert user is not None
        await db.execute(insert(User).values(channel=user.channel, external_id=user.external_id,
                                             display_name=user.display_name))
        raise AssertionError("the insert above fails")

    monkeypatch.setattr(privacy, "export", export)


def assert_clean(log: str, *personal: str) -> None:
    """No line of the log holds any of the values `personal`."""
    values = [value.casefold() for value in personal]
    leaks = [line for line in log.splitlines()
             if any(value in line.casefold() for value in values)]
    assert not leaks, "\n".join(leaks)


# ---- Telegram ----------------------------------------------------------------------------

TG_USER = 700123456
TG_NAME = "Дәурен"
TG_FULL_NAME = "Dauren Zhaksylykov"
TG_PHONE = "+4915122233344"
TG_EMAIL = "dauren.zh@example.org"


async def telegram_conversation(bot: RunningBot, monkeypatch: pytest.MonkeyPatch) -> None:
    user, api = TG_USER, bot.api
    async with bot.app.engine.sessionmaker() as db, db.begin():
        forum = await make_forum(db, capacity=5)
    await bot.say(user, "/start", language_code="en", first_name=TG_NAME)
    await bot.press(user, "fo")
    await bot.press(user, f"fo:v:{forum.id}")
    await bot.press(user, f"fo:r:{forum.id}")
    for words in (TG_FULL_NAME, "Germany", "Berlin", "-"):
        await bot.say(user, words)
    await bot.press(user, "rg:sector:trade")
    await bot.after(user, api.send_contact(user, TG_PHONE))
    await bot.say(user, TG_EMAIL)
    await bot.press(user, "rg:agree")
    registered = await bot.press(user, "rg:go")
    assert "You are registered" in "\n".join(reply.text for reply in registered)

    # A question to the coordinators, copied to their chat and answered there.
    await bot.say(user, "/menu")
    await bot.press(user, "ho")
    copies = len(group(api))
    await bot.say(user, f"I am {TG_FULL_NAME}, {TG_PHONE}, {TG_EMAIL}")
    await api.wait_for(lambda: len(group(api)) > copies, 5, "the copy in the group")
    copy = group(api)[-1]
    await wait_mapped(bot, copy.message_id)
    mark = api.mark()
    await in_group(bot, LEAD, "Yes, you can.", reply_to=copy.message_id)
    await api.wait_replies(user, mark)

    # The user blocks the bot: the next answer cannot be delivered.
    api.block(user)
    await in_group(bot, LEAD, "Anything else?", reply_to=copy.message_id)
    api.blocked.discard(user)

    # A statement fails with the user's name bound to it.
    with monkeypatch.context() as patch:
        failing_export(patch)
        replies = await bot.say(user, "/mydata")
    assert SORRY in replies[0].text

    await bot.say(user, "/forgetme")
    await bot.press(user, "pv:forget:yes")


async def test_a_telegram_conversation_logs_no_personal_data(
        database_url: str, api: FakeTelegramAPI, handled: set[tuple[Any, ...]],
        telegram_mode: str, monkeypatch: pytest.MonkeyPatch) -> None:
    api.add_group(GROUP)
    api.user(LEAD, first_name="Lead")
    with app_log(database_url) as log:
        async with running_bot(database_url, api, handled, telegram_mode=telegram_mode,
                               coordinator_chat_id=GROUP, admin_ids=[LEAD]) as bot:
            await bot.say(LEAD, "/start", language_code="en")
            await telegram_conversation(bot, monkeypatch)
    text = log.getvalue()
    assert "IntegrityError" in text and "blocked the bot" in text  # the error paths ran
    assert_clean(text, str(TG_USER), TG_NAME, TG_FULL_NAME, TG_PHONE, TG_PHONE[1:], TG_EMAIL)


# ---- WhatsApp ----------------------------------------------------------------------------

WA_USER = WhatsAppUser("77015550777", "KZ.4000000000000000777", "Зарина")
WA_FULL_NAME = "Zarina Tleubayeva"
WA_PHONE = "+4915187654321"
WA_EMAIL = "zarina.t@example.net"


@pytest.mark.parametrize("log_format", ["text", "json"])
async def test_a_whatsapp_conversation_logs_no_personal_data(
        database_url: str, monkeypatch: pytest.MonkeyPatch, log_format: str) -> None:
    user = WA_USER
    with app_log(database_url, log_format) as log:
        async for wa in make_wa(database_url):
            async with wa.app.engine.sessionmaker() as db, db.begin():
                forum = await make_forum(db, capacity=5)
            wa.api.fail_next(1, 500)  # a server error, retried
            await wa.deliver(user.text("hi"))
            for payload in ("lang:en", f"fo:v:{forum.id}", f"fo:r:{forum.id}"):
                await wa.deliver(user.button(payload))
            for words in (WA_FULL_NAME, "Germany", "Berlin", "-"):
                await wa.deliver(user.text(words))
            await wa.deliver(user.button("rg:sector:trade"))
            for words in (WA_PHONE, WA_EMAIL):
                await wa.deliver(user.text(words))
            await wa.deliver(user.button("rg:agree"))
            registered = await wa.say(user, user.button("rg:go"))
            assert "You are registered" in "\n".join(m.body for m in registered)

            # A message Meta could not read, a reply that cannot be delivered, a status
            # saying a sent message failed.
            await wa.deliver(user.delivery(user.message("unsupported", errors=[{
                "code": 131051, "title": "Message type unknown",
                "error_data": {"details": "Message type is currently not supported."}}])))
            wa.api.fail_next(131026, 400)
            await wa.deliver(user.text("menu"))
            await wa.deliver(webhook({"statuses": [{
                "id": wa.api.sent[-1].wamid, "status": "failed", "timestamp": "1795000100",
                "recipient_id": user.wa_id, "errors": [{
                    "code": 131000, "title": "Something went wrong",
                    "error_data": {"details": "Message failed to send."}}]}]}))

            with monkeypatch.context() as patch:
                failing_export(patch)
                sorry = await wa.say(user, user.text("/mydata"))
            assert SORRY in sorry[0].body

            await wa.deliver(user.text("/forgetme"))
            await wa.deliver(user.button("pv:forget:yes"))
    text = log.getvalue()
    assert "IntegrityError" in text and "131026" in text  # the error paths ran
    assert_clean(text, str(user.wa_id), str(user.user_id), user.name, WA_FULL_NAME, WA_PHONE,
                 WA_PHONE[1:], WA_EMAIL)
