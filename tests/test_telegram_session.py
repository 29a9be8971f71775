"""The Bot API session: requests as aiogram builds them, errors mapped as aiogram maps
them, and the answer classes kept alive across garbage collections."""

from __future__ import annotations

import gc
import weakref
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiogram import Bot
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.exceptions import TelegramBadRequest, TelegramNetworkError, TelegramRetryAfter
from aiogram.methods.base import Response
from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup, Message
from aiohttp import web
from aiohttp.test_utils import unused_port

from bot.channels.telegram_session import BotApiSession

TOKEN = "123456:SESSION"


class Recorder:
    def __init__(self) -> None:
        self.requests: list[tuple[str, str, bytes]] = []  # method, content type, body
        self.answer: tuple[int, dict[str, Any]] | None = None
        self.base = ""

    async def handle(self, request: web.Request) -> web.Response:
        self.requests.append((request.match_info["method"], request.content_type,
                              await request.read()))
        if self.answer is not None:
            status, body = self.answer
            return web.json_response(body, status=status)
        return web.json_response({"ok": True, "result": {
            "message_id": 7, "date": 0, "chat": {"id": 42, "type": "private"}, "text": "ok"}})

    def bot(self, session_class: type[AiohttpSession] = BotApiSession) -> Bot:
        return Bot(TOKEN, session=session_class(api=TelegramAPIServer.from_base(self.base)))


@pytest.fixture
async def recorder() -> AsyncIterator[Recorder]:
    recorder = Recorder()
    app = web.Application()
    app.router.add_post("/bot{token}/{method}", recorder.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    recorder.base = f"http://127.0.0.1:{runner.addresses[0][1]}"
    try:
        yield recorder
    finally:
        await runner.cleanup()


@pytest.fixture
async def bot(recorder: Recorder) -> AsyncIterator[Bot]:
    bot = recorder.bot()
    try:
        yield bot
    finally:
        await bot.session.close()


async def test_requests_go_as_aiogram_builds_them(recorder: Recorder, bot: Bot) -> None:
    markup = InlineKeyboardMarkup(inline_keyboard=[[
        InlineKeyboardButton(text="Қазақша", callback_data="lang:kk")]])
    sent = await bot.send_message(chat_id=42, text="Сәлем, ағайын!", reply_markup=markup)
    assert sent.message_id == 7
    plain = recorder.bot(AiohttpSession)
    try:
        await plain.send_message(chat_id=42, text="Сәлем, ағайын!", reply_markup=markup)
    finally:
        await plain.session.close()
    ours, aiograms = recorder.requests
    assert ours[0] == "sendMessage"
    assert ours == aiograms  # the same method, content type and body


async def test_errors_keep_their_meaning(recorder: Recorder, bot: Bot) -> None:
    recorder.answer = (400, {"ok": False, "error_code": 400,
                             "description": "Bad Request: message is not modified"})
    with pytest.raises(TelegramBadRequest, match="not modified"):
        await bot.edit_message_text(chat_id=42, message_id=7, text="same")
    recorder.answer = (429, {"ok": False, "error_code": 429,
                             "description": "Too Many Requests: retry after 3",
                             "parameters": {"retry_after": 3}})
    with pytest.raises(TelegramRetryAfter) as retry:
        await bot.send_message(chat_id=42, text="again")
    assert retry.value.retry_after == 3


async def test_an_unreachable_api_is_a_network_error() -> None:
    base = f"http://127.0.0.1:{unused_port()}"
    bot = Bot(TOKEN, session=BotApiSession(api=TelegramAPIServer.from_base(base)))
    try:
        with pytest.raises(TelegramNetworkError):
            await bot.send_message(chat_id=42, text="hello")
    finally:
        await bot.session.close()


async def test_the_answer_class_outlives_garbage_collection(bot: Bot) -> None:
    await bot.send_message(chat_id=42, text="hello")
    answer_class = weakref.ref(Response[Message])
    gc.collect()
    # pydantic's own cache is weak: without the session's reference the class is gone
    # and the next request compiles it again.
    assert answer_class() is not None
    assert answer_class() in BotApiSession.kept_responses
