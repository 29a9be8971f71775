"""How a broadcast message goes out on each platform (`broadcasts.Platform`).

Telegram: through the channel's shared `PriorityLimiter` at broadcast priority (replies
to users go first), at most one message per second to the same chat, a 429 pausing
every sender; a photo or document is uploaded once and then sent by its `file_id`.
WhatsApp: the channel's `push` (templates outside the 24-hour window) at broadcast
priority through the phone number's `PriorityLimiter` (`WHATSAPP_RATE`, replies to
users first, a 130429 pausing every sender); the wamid is kept for the statuses.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from functools import partial
from typing import TYPE_CHECKING, Any

from aiogram import Bot
from aiogram.exceptions import (
    TelegramBadRequest,
    TelegramForbiddenError,
    TelegramRetryAfter,
)
from aiogram.types import BufferedInputFile, Message

from bot.channels.telegram import CAPTION_LIMIT, TEXT_LIMIT, keyboard
from bot.core.notify import PushResult
from bot.core.ratelimit import BROADCAST, PriorityLimiter
from bot.core.replies import Reply, split_text
from bot.services.broadcasts import Outcome

if TYPE_CHECKING:
    from bot.channels.whatsapp import WhatsAppChannel

PER_CHAT_INTERVAL = 1.0  # Telegram: at most one message per second to the same chat
FLOOD_ATTEMPTS = 8


class _Flood(Exception):
    pass


class TelegramBroadcaster:
    def __init__(self, bot: Bot, limiter: PriorityLimiter,
                 per_chat: float = PER_CHAT_INTERVAL) -> None:
        self.bot = bot
        self.limiter = limiter
        self.per_chat = per_chat
        self._file_ids: dict[str, str] = {}

    async def send(self, external_id: str, reply: Reply, key: str) -> Outcome:
        chat_id = int(external_id)
        try:
            parts = self._parts(chat_id, reply, key)
            first: Message | None = None
            last_at = 0.0
            for make in parts:
                wait = last_at + self.per_chat - time.monotonic()
                if last_at and wait > 0:
                    await asyncio.sleep(wait)
                message = await self._request(make)
                last_at = time.monotonic()
                first = first or message
                self._remember_file(key, message)
        except TelegramForbiddenError as error:
            return Outcome("blocked", error=error.message[:300])
        except TelegramBadRequest as error:
            return Outcome("failed", error=error.message[:300])
        except _Flood:
            return Outcome("retry", error="flood control")
        except Exception as error:  # network, server: try again later
            return Outcome("retry", error=f"{type(error).__name__}: {error}"[:300])
        return Outcome("sent", message_id=str(first.message_id) if first else None)

    async def _request(self, make: Callable[[], Awaitable[Any]]) -> Any:
        for _ in range(FLOOD_ATTEMPTS):
            await self.limiter.acquire(BROADCAST)
            try:
                return await make()
            except TelegramRetryAfter as error:
                self.limiter.pause(error.retry_after)
        raise _Flood

    def _parts(self, chat_id: int, reply: Reply,
               key: str) -> list[Callable[[], Awaitable[Any]]]:
        markup = keyboard(reply)
        attachment = reply.attachment
        if attachment is None:
            chunks = split_text(reply.text, TEXT_LIMIT)
            return [partial(self.bot.send_message, chat_id=chat_id, text=chunk,
                            reply_markup=markup if number == len(chunks) - 1 else None)
                    for number, chunk in enumerate(chunks)]
        parts: list[Callable[[], Awaitable[Any]]] = []
        caption: str | None = reply.text or None
        if caption is not None and len(caption) > CAPTION_LIMIT:
            parts += [partial(self.bot.send_message, chat_id=chat_id, text=chunk)
                      for chunk in split_text(caption, TEXT_LIMIT)]
            caption = None
        photo = attachment.mime in ("image/png", "image/jpeg")

        def send_file() -> Awaitable[Any]:
            upload: Any = self._file_ids.get(key) or BufferedInputFile(
                attachment.data, filename=attachment.filename)
            if photo:
                return self.bot.send_photo(chat_id=chat_id, photo=upload, caption=caption,
                                           reply_markup=markup)
            return self.bot.send_document(chat_id=chat_id, document=upload, caption=caption,
                                          reply_markup=markup)

        parts.append(send_file)
        return parts

    def _remember_file(self, key: str, message: Any) -> None:
        if key in self._file_ids or not isinstance(message, Message):
            return
        if message.photo:
            self._file_ids[key] = message.photo[-1].file_id
        elif message.document is not None:
            self._file_ids[key] = message.document.file_id


class WhatsAppBroadcaster:
    def __init__(self, channel: WhatsAppChannel) -> None:
        self.channel = channel

    async def send(self, external_id: str, reply: Reply, key: str) -> Outcome:
        result, wamid = await self.channel.push_with_id(external_id, [reply], "broadcast",
                                                        priority=BROADCAST)
        if result is PushResult.SENT:
            return Outcome("sent", message_id=wamid)
        if result is PushResult.UNREACHABLE:
            return Outcome("blocked", error="undeliverable")
        if result is PushResult.NO_CHANNEL:
            return Outcome("skipped", error="channel cannot start messages")
        return Outcome("retry", error="whatsapp error")
