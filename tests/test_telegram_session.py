"""Requests without files go to the Bot API as UTF-8 JSON; with a file, as multipart."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiogram import Bot
from aiogram.client.telegram import TelegramAPIServer
from aiogram.exceptions import TelegramBadRequest, TelegramNetworkError, TelegramRetryAfter
from aiogram.types import BufferedInputFile, InlineKeyboardButton, InlineKeyboardMarkup
from aiohttp import web
from aiohttp.test_utils import unused_port

from bot.channels.telegram_session import JsonBodySession

TOKEN = "123456:SESSION"


class Recorder:
    def __init__(self) -> None:
        self.requests: list[tuple[str, str, bytes]] = []  # method, content type, body
        self.answer: tuple[int, dict[str, Any]] | None = None

    async def handle(self, request: web.Request) -> web.Response:
        self.requests.append((request.match_info["method"], request.content_type,
                              await request.read()))
        if self.answer is not None:
            status, body = self.answer
            return web.json_response(body, status=status)
        return web.json_response({"ok": True, "result": {
            "message_id": 7, "date": 0, "chat": {"id": 42, "type": "private"}, "text": "ok"}})


@pytest.fixture
async def server() -> AsyncIterator[tuple[Recorder, Bot]]:
    recorder = Recorder()
    app = web.Application()
    app.router.add_post("/bot{token}/{method}", recorder.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    base = f"http://127.0.0.1:{runner.addresses[0][1]}"
    bot = Bot(TOKEN, session=JsonBodySession(api=TelegramAPIServer.from_base(base)))
    try:
        yield recorder, bot
    finally:
        await bot.session.close()
        await runner.cleanup()


async def test_text_goes_as_utf8_json(server: tuple[Recorder, Bot]) -> None:
    recorder, bot = server
    markup = InlineKeyboardMarkup(inline_keyboard=[[
        InlineKeyboardButton(text="Қазақша", callback_data="lang:kk")]])
    sent = await bot.send_message(chat_id=42, text="Сәлем, ағайын!", reply_markup=markup)
    assert sent.message_id == 7
    method, content_type, body = recorder.requests[-1]
    assert (method, content_type) == ("sendMessage", "application/json")
    assert "Сәлем".encode() in body  # neither percent-encoded nor \u-escaped
    assert json.loads(body) == {
        "chat_id": 42, "text": "Сәлем, ағайын!",
        "reply_markup": {"inline_keyboard": [[{"text": "Қазақша", "callback_data": "lang:kk"}]]},
    }


async def test_a_file_goes_as_multipart(server: tuple[Recorder, Bot]) -> None:
    recorder, bot = server
    await bot.send_document(chat_id=42, caption="Билет",
                            document=BufferedInputFile(b"%PDF-1.4", filename="ticket.pdf"))
    method, content_type, body = recorder.requests[-1]
    assert (method, content_type) == ("sendDocument", "multipart/form-data")
    assert b"%PDF-1.4" in body and b"ticket.pdf" in body


async def test_errors_keep_their_meaning(server: tuple[Recorder, Bot]) -> None:
    recorder, bot = server
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
    bot = Bot(TOKEN, session=JsonBodySession(api=TelegramAPIServer.from_base(base)))
    try:
        with pytest.raises(TelegramNetworkError):
            await bot.send_message(chat_id=42, text="hello")
    finally:
        await bot.session.close()
