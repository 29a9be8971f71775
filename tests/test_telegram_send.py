"""The one way to send to Telegram (bot/channels/telegram_send.py), against the fake Bot
API: splitting, captions, photos and documents, file ids, replies to a message, and what
each refusal becomes."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

import pytest
from aiogram import Bot
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.methods import AnswerCallbackQuery

from bot.channels import telegram_send
from bot.channels.telegram_send import (
    CAPTION_LIMIT,
    TEXT_LIMIT,
    GaveUp,
    Refused,
    TelegramFile,
    TelegramSender,
    Unreachable,
)
from bot.core.ratelimit import BROADCAST, INTERACTIVE, PriorityLimiter
from bot.core.replies import Attachment, Choice, Reply
from tests.fakes.telegram_api import FakeTelegramAPI

CHAT = 4242
MENU = ((Choice("Menu", "menu"),),)
PNG = Attachment("ticket.png", b"\x89PNG" + b"0" * 64, "image/png")
PDF = Attachment("forum.ics", b"BEGIN:VCALENDAR" + b"0" * 64, "text/calendar")


@pytest.fixture
async def sender(api: FakeTelegramAPI) -> AsyncIterator[TelegramSender]:
    api.user(CHAT)
    bot = Bot(api.token, session=AiohttpSession(api=TelegramAPIServer.from_base(api.url)))
    try:
        yield TelegramSender(bot, PriorityLimiter(rate=1000, burst=1000))
    finally:
        await bot.session.close()


def long_text() -> str:
    return "\n".join(f"Line {n}: " + "word " * 30 for n in range(60))


async def test_long_text_is_split_with_the_keyboard_under_the_last_part(
        api: FakeTelegramAPI, sender: TelegramSender) -> None:
    text = long_text()
    assert 2 * TEXT_LIMIT < len(text) < 3 * TEXT_LIMIT
    sent = await sender.send(CHAT, Reply(text, MENU))
    parts = api.replies(CHAT)
    assert [part.method for part in parts] == ["sendMessage"] * 3
    assert sent.message_ids == [part.message_id for part in parts]
    assert [part.callback_data for part in parts] == [[], [], ["menu"]]
    assert all(len(part.text) <= TEXT_LIMIT for part in parts)
    assert sent.file is None
    assert api.violations == []


async def test_a_picture_is_a_photo_with_its_caption_and_keyboard(
        api: FakeTelegramAPI, sender: TelegramSender) -> None:
    sent = await sender.send(CHAT, Reply("Your ticket", MENU, attachment=PNG))
    photo = api.replies(CHAT)[-1]
    assert photo.method == "sendPhoto"
    assert photo.params["caption"] == "Your ticket"
    assert photo.callback_data == ["menu"]
    assert sent.message_ids == [photo.message_id]
    assert sent.file is not None and sent.file.photo
    # Sent again by its file id: nothing is uploaded.
    mark = api.mark()
    await sender.send(CHAT, Reply("Again"), file=sent.file)
    again = api.replies(CHAT, mark)[-1]
    assert again.method == "sendPhoto" and again.params["photo"] == sent.file.ref
    assert api.violations == []


async def test_a_long_text_goes_before_a_document(
        api: FakeTelegramAPI, sender: TelegramSender) -> None:
    text = "x" * (CAPTION_LIMIT + 1)
    sent = await sender.send(CHAT, Reply(text, MENU, attachment=PDF))
    parts = api.replies(CHAT)
    assert [part.method for part in parts] == ["sendMessage", "sendDocument"]
    assert parts[0].text == text and parts[0].keyboard == []
    assert "caption" not in parts[1].params and parts[1].callback_data == ["menu"]
    assert sent.file is not None and not sent.file.photo
    assert len(sent.message_ids) == 2
    assert api.violations == []


async def test_a_reply_to_a_message_answers_it_with_its_first_part(
        api: FakeTelegramAPI, sender: TelegramSender) -> None:
    first = await sender.send(CHAT, Reply("A question"))
    sent = await sender.send(CHAT, Reply(long_text()), reply_to=first.message_ids[0])
    messages = {m.message_id: m for m in api.messages(CHAT)}
    replied = [messages[number].extra.get("reply_to_message", {}).get("message_id")
               for number in sent.message_ids]
    assert replied == [first.message_ids[0], None, None]
    # A message that is gone: sent all the same.
    gone = await sender.send(CHAT, Reply("Still here"), reply_to=999)
    assert len(gone.message_ids) == 1
    # By file id, as the coordinators' chat passes users' files on.
    await sender.send(CHAT, Reply("A scan"), reply_to=first.message_ids[0],
                      file=TelegramFile("AgACAgIAAxkBphoto800", photo=True))
    assert api.replies(CHAT)[-1].params["photo"] == "AgACAgIAAxkBphoto800"
    assert api.violations == []


async def test_flood_control_pauses_and_tries_again(
        api: FakeTelegramAPI, sender: TelegramSender) -> None:
    api.fail_next("sendMessage", 1, error_code=429, retry_after=1)
    started = time.monotonic()
    sent = await sender.send(CHAT, Reply("Hello"), priority=BROADCAST)
    assert time.monotonic() - started >= 0.9
    assert [call.status for call in api.calls_to("sendMessage")] == [429, 200]
    assert len(sent.message_ids) == 1
    # A request outside the limiter (answering a press) waits it out too.
    api.fail_next("answerCallbackQuery", 1, error_code=429, retry_after=1)
    started = time.monotonic()
    with pytest.raises(Refused):  # the fake knows no such query: refused after the wait
        await sender.call(AnswerCallbackQuery(callback_query_id="1"), limited=False)
    assert time.monotonic() - started >= 0.9


async def test_flood_control_that_lasts_gives_up(
        api: FakeTelegramAPI, sender: TelegramSender, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(telegram_send.FLOOD_ATTEMPTS, INTERACTIVE, 1)
    api.fail_next("sendMessage", 1, error_code=429, retry_after=1)
    with pytest.raises(GaveUp, match="flood control"):
        await sender.send(CHAT, Reply("Hello"))


async def test_a_server_error_is_tried_again(api: FakeTelegramAPI,
                                             sender: TelegramSender) -> None:
    api.fail_next("sendMessage", 1, error_code=500)
    sent = await sender.send(CHAT, Reply("Hello"))
    assert [call.status for call in api.calls_to("sendMessage")] == [500, 200]
    assert len(sent.message_ids) == 1


async def test_server_errors_that_last_give_up(
        api: FakeTelegramAPI, sender: TelegramSender, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(telegram_send, "ERROR_ATTEMPTS", 2)
    api.fail_next("sendMessage", 2, error_code=502, description="Bad Gateway")
    with pytest.raises(GaveUp):
        await sender.send(CHAT, Reply("Hello"))
    assert len(api.calls_to("sendMessage")) == 2


async def test_blocked_and_refused(api: FakeTelegramAPI, sender: TelegramSender) -> None:
    api.block(CHAT)
    with pytest.raises(Unreachable):
        await sender.send(CHAT, Reply("Hello"))
    with pytest.raises(Refused, match="chat not found"):
        await sender.send(CHAT + 1, Reply("Hello"))
    assert len(api.calls_to("sendMessage")) == 2  # neither is tried again


async def test_edit(api: FakeTelegramAPI, sender: TelegramSender) -> None:
    sent = await sender.send(CHAT, Reply("First", MENU))
    message_id = sent.message_ids[0]
    markup = telegram_send.keyboard(Reply("", MENU))
    assert await sender.edit(CHAT, message_id, "Second", markup) is True
    assert await sender.edit(CHAT, message_id, "Second", markup) is False  # not modified
    with pytest.raises(Refused):
        await sender.edit(CHAT, 999, "Gone", markup)
