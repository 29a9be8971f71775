"""Sending to Telegram, one way for everything that sends: replies and pushes
(bot/channels/telegram.py), broadcasts (bot/channels/broadcast_senders.py) and the
coordinators' chat (bot/channels/telegram_desk.py).

- text over 4096 characters is split; the keyboard goes under the last part;
- a file carries the text as its caption, or comes after the text when the text is
  longer than a caption (1024); PNG and JPEG are shown as a photo, anything else is a
  document; a file Telegram already has is sent again by its file id;
- every message takes its turn from the platform's `PriorityLimiter` (replies
  `INTERACTIVE`, broadcasts `BROADCAST`);
- 429 pauses every sender for `retry_after` and tries again; a server or network error
  is tried again after a growing pause; 403 raises `Unreachable`, 400 `Refused`, and
  `GaveUp` says the retries ran out.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, TypeVar

from aiogram import Bot
from aiogram.exceptions import (
    TelegramBadRequest,
    TelegramForbiddenError,
    TelegramNetworkError,
    TelegramRetryAfter,
    TelegramServerError,
)
from aiogram.methods import EditMessageText, SendDocument, SendMessage, SendPhoto, TelegramMethod
from aiogram.types import (
    BufferedInputFile,
    InlineKeyboardMarkup,
    InputFile,
    Message,
    ReplyKeyboardMarkup,
    ReplyKeyboardRemove,
    ReplyParameters,
)

from bot.core import metrics
from bot.core.ratelimit import BROADCAST, INTERACTIVE, PUSH, PriorityLimiter
from bot.core.replies import Choice, Reply, split_text

log = logging.getLogger(__name__)

CHANNEL = "telegram"
TEXT_LIMIT = 4096
CAPTION_LIMIT = 1024
PHOTO_TYPES = frozenset({"image/png", "image/jpeg"})
# Requests per message: a 429 is waited out up to this many times (a broadcast can wait
# longer than a reply), a server or network error tried again up to ERROR_ATTEMPTS times.
FLOOD_ATTEMPTS = {INTERACTIVE: 4, PUSH: 4, BROADCAST: 8}
ERROR_ATTEMPTS = 4
# Keyboards kept built (`keyboard`): the screens' buttons in each language, and the
# questionnaire's and lists' variants.
KEYBOARDS_KEPT = 256

T = TypeVar("T")
Markup = InlineKeyboardMarkup | ReplyKeyboardMarkup | ReplyKeyboardRemove


class SendError(Exception):
    """A request Telegram did not carry out."""


class Unreachable(SendError):
    """403: the user blocked the bot (or the bot is no longer in the chat)."""


class Refused(SendError):
    """400: Telegram refused the request as it stands; sending it again will not help."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class GaveUp(SendError):
    """Flood control, server or network errors outlasted the retries: try again later."""


@dataclass(frozen=True)
class TelegramFile:
    """A file to send: a file id Telegram already has, or an upload."""

    ref: str | InputFile
    photo: bool


@dataclass(frozen=True)
class Sent:
    """The messages one reply became, in order; `file` is the reply's file as Telegram
    now has it (to send it again by its id)."""

    message_ids: list[int]
    file: TelegramFile | None = None


def keyboard(reply: Reply) -> InlineKeyboardMarkup | None:
    """The reply's choices as inline buttons."""
    if not reply.choices:
        return None
    return _keyboard(reply.choices)


@lru_cache(maxsize=KEYBOARDS_KEPT)
def _keyboard(choices: tuple[tuple[Choice, ...], ...]) -> InlineKeyboardMarkup:
    """Built once for the same buttons (a screen shows everyone who reads it in one
    language the same ones; aiogram only reads a markup it sends), validated from plain
    data in one call, the quickest way to build aiogram's models."""
    return InlineKeyboardMarkup.model_validate({"inline_keyboard": [
        [{"text": choice.label, "url": choice.url} if choice.url
         else {"text": choice.label, "callback_data": choice.payload} for choice in row]
        for row in choices
    ]})


def file_of(reply: Reply) -> TelegramFile | None:
    """The reply's attachment: by its file id when Telegram holds it already, else as an
    upload; a picture as a photo, anything else as a document."""
    attachment = reply.attachment
    if attachment is None:
        return None
    return TelegramFile(attachment.ref or BufferedInputFile(attachment.data,
                                                            filename=attachment.filename),
                        photo=attachment.mime in PHOTO_TYPES)


def _file_in(message: Message) -> TelegramFile | None:
    if message.photo:
        return TelegramFile(message.photo[-1].file_id, photo=True)
    if message.document is not None:
        return TelegramFile(message.document.file_id, photo=False)
    return None


class TelegramSender:
    """Messages to Telegram chats through one bot and the platform's limiter."""

    def __init__(self, bot: Bot, limiter: PriorityLimiter) -> None:
        self.bot = bot
        self.limiter = limiter

    async def send(self, chat_id: int, reply: Reply, *, markup: Markup | None = None,
                   file: TelegramFile | None = None, reply_to: int | None = None,
                   priority: int = INTERACTIVE, spacing: float = 0.0,
                   paid: bool = False) -> Sent:
        """Send one reply: its text (split when long), its file (`file`, else its
        attachment) and its keyboard (`markup`, else its choices) under the last
        message. `reply_to`: the first message answers that message of the chat (sent
        anyway when it is gone). `spacing`: at least that many seconds between the
        messages of the reply. `paid`: a paid broadcast message
        (`allow_paid_broadcast`, beyond the free 30 messages/s). Raises `Unreachable`, `Refused` or
        `GaveUp`."""
        markup = markup if markup is not None else keyboard(reply)
        file = file or file_of(reply)
        answering = ReplyParameters(message_id=reply_to, allow_sending_without_reply=True) \
            if reply_to is not None else None
        texts = split_text(reply.text, TEXT_LIMIT) if file is None else []
        caption: str | None = reply.text or None
        if file is not None and caption is not None and len(caption) > CAPTION_LIMIT:
            texts, caption = split_text(caption, TEXT_LIMIT), None
        extra: dict[str, Any] = {"allow_paid_broadcast": True} if paid else {}
        methods: list[TelegramMethod[Message]] = [
            SendMessage(chat_id=chat_id, text=chunk, **extra,
                        reply_parameters=answering if number == 0 else None,
                        reply_markup=markup if file is None and number == len(texts) - 1
                        else None)
            for number, chunk in enumerate(texts)]
        if file is not None:
            common: dict[str, Any] = {"chat_id": chat_id, "caption": caption,
                                      "reply_markup": markup,
                                      "reply_parameters": None if texts else answering,
                                      **extra}
            methods.append(SendPhoto(photo=file.ref, **common) if file.photo
                           else SendDocument(document=file.ref, **common))
        messages: list[Message] = []
        last_at = 0.0
        for method in methods:
            wait = last_at + spacing - time.monotonic()
            if last_at and wait > 0:
                await asyncio.sleep(wait)
            messages.append(await self.call(method, priority))
            last_at = time.monotonic()
        return Sent([message.message_id for message in messages],
                    _file_in(messages[-1]) if file is not None else None)

    async def edit(self, chat_id: int, message_id: int, text: str,
                   markup: InlineKeyboardMarkup | None) -> bool:
        """Replace a message's text and keyboard: True when edited, False when it shows
        exactly that already. Raises `Refused` when it cannot be edited (too old,
        deleted, not a text message) and must be sent anew, or as `send` does."""
        try:
            await self.call(EditMessageText(chat_id=chat_id, message_id=message_id, text=text,
                                            reply_markup=markup))
        except Refused as error:
            if "not modified" in error.message:
                return False
            raise
        return True

    async def call(self, method: TelegramMethod[T], priority: int = INTERACTIVE, *,
                   limited: bool = True) -> T:
        """One Bot API request with retries. `limited` requests (messages) take their
        turn from the limiter; others (answering a button press, set-up) do not, but
        wait out flood control all the same."""
        floods = errors = 0
        while True:
            if limited:
                await self.limiter.acquire(priority)
            try:
                return await self.bot(method)
            except TelegramRetryAfter as error:
                floods += 1
                log.warning("telegram: flood control, waiting %ss", error.retry_after)
                self.limiter.pause(error.retry_after)  # every sender waits, broadcasts too
                if floods >= FLOOD_ATTEMPTS.get(priority, FLOOD_ATTEMPTS[INTERACTIVE]):
                    raise GaveUp("flood control") from error
                if not limited:
                    await asyncio.sleep(error.retry_after)
            except TelegramForbiddenError as error:
                raise Unreachable(error.message) from error
            except TelegramBadRequest as error:
                raise Refused(error.message) from error
            except (TelegramServerError, TelegramNetworkError) as error:
                errors += 1
                metrics.ERRORS.labels(CHANNEL, "send").inc()
                log.warning("telegram: %s (attempt %d)", error, errors)
                if errors >= ERROR_ATTEMPTS:
                    raise GaveUp(f"{type(error).__name__}: {error}") from error
                await asyncio.sleep(min(2 ** (errors - 1) * 0.5, 5))
