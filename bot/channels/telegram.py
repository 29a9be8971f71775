"""Telegram through aiogram: updates become events, replies become messages.

- every callback query is answered (first, so the client stops its spinner);
- a button press edits the message it came from; anything else is sent anew;
- text over 4096 characters is split, the keyboard goes under the last part;
- 429 waits `retry_after` and retries; 403 marks the user unreachable.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
from collections.abc import Awaitable, Callable
from functools import partial
from typing import TYPE_CHECKING, Any, TypeVar

from aiogram import Bot, Dispatcher, Router
from aiogram.client.telegram import TelegramAPIServer
from aiogram.exceptions import (
    TelegramBadRequest,
    TelegramForbiddenError,
    TelegramNetworkError,
    TelegramRetryAfter,
    TelegramServerError,
)
from aiogram.types import (
    BotCommand,
    BufferedInputFile,
    CallbackQuery,
    InlineKeyboardMarkup,
    KeyboardButton,
    Message,
    ReplyKeyboardMarkup,
    ReplyKeyboardRemove,
    ReplyParameters,
    Update,
)
from aiohttp import web

from bot import LANGUAGES
from bot.channels.telegram_session import BotApiSession
from bot.config import Settings
from bot.core import metrics
from bot.core.engine import Engine
from bot.core.events import Event, EventKind, Identity, InboundFile
from bot.core.i18n import N_, Translations
from bot.core.notify import PushResult
from bot.core.ratelimit import INTERACTIVE, PriorityLimiter
from bot.core.replies import Reply, split_text

if TYPE_CHECKING:
    from bot.channels.telegram_desk import CoordinatorDesk

log = logging.getLogger(__name__)

CHANNEL = "telegram"
TEXT_LIMIT = 4096
CAPTION_LIMIT = 1024
ALLOWED_UPDATES = ["message", "callback_query"]
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"

COMMANDS: tuple[tuple[str, str], ...] = (
    ("start", N_("Greeting and main menu")),
    ("menu", N_("Main menu")),
    ("language", N_("Change the language")),
    ("help", N_("What I can do")),
    ("cancel", N_("Stop the current step")),
    ("mydata", N_("What I store about you")),
    ("forgetme", N_("Delete your data")),
)

T = TypeVar("T")


class Unreachable(Exception):
    """The user blocked the bot (403); they are marked unreachable."""


Markup = InlineKeyboardMarkup | ReplyKeyboardMarkup | ReplyKeyboardRemove


def keyboard(reply: Reply) -> InlineKeyboardMarkup | None:
    """The reply's choices as inline buttons (validated from plain data in one call, the
    quickest way to build aiogram's models)."""
    if not reply.choices:
        return None
    return InlineKeyboardMarkup.model_validate({"inline_keyboard": [
        [{"text": choice.label, "url": choice.url} if choice.url
         else {"text": choice.label, "callback_data": choice.payload} for choice in row]
        for row in reply.choices
    ]})


class TelegramChannel:
    def __init__(self, engine: Engine, settings: Settings, translations: Translations) -> None:
        assert settings.bot_token is not None
        self.engine = engine
        self.settings = settings
        self.translations = translations
        session = BotApiSession(api=TelegramAPIServer.from_base(settings.telegram_api_url))
        self.bot = Bot(settings.bot_token.get_secret_value(), session=session)
        # BROADCAST_RATE for every send: replies and pushes go ahead of broadcast
        # messages (bot/channels/broadcast_senders.py), which share this limiter. A
        # small burst (a fifth of a second's worth) keeps any second near the rate.
        self.limiter = PriorityLimiter(settings.broadcast_rate,
                                       burst=settings.broadcast_rate / 5)
        self.dispatcher = Dispatcher()
        router = Router(name="channel")
        router.message.register(self.on_message)
        router.callback_query.register(self.on_callback)
        self.dispatcher.include_router(router)
        self._polling: asyncio.Task[None] | None = None
        self._background: set[asyncio.Task[Any]] = set()
        # Button presses already answered in the reply to the webhook's request.
        self._answered: set[str] = set()
        # Chats that show the "share my phone" keyboard, to remove it afterwards.
        self._contact_keyboard: set[int] = set()
        # The coordinators' chat (bot/channels/telegram_desk.py), set by the runner.
        self.desk: CoordinatorDesk | None = None

    # ---- start and stop -------------------------------------------------------

    async def start(self) -> None:
        me = await self.bot.get_me()
        self.engine.bot_username = me.username
        await self.register_commands()
        if self.settings.telegram_mode == "webhook":
            assert self.settings.telegram_webhook_secret is not None
            await self.bot.set_webhook(
                url=str(self.settings.telegram_webhook_url),
                secret_token=self.settings.telegram_webhook_secret.get_secret_value(),
                allowed_updates=ALLOWED_UPDATES,
            )
            log.info("telegram: webhook set")
            return
        await self.bot.delete_webhook(drop_pending_updates=False)
        self._polling = asyncio.create_task(
            self.dispatcher.start_polling(
                self.bot, handle_signals=False, close_bot_session=False,
                allowed_updates=ALLOWED_UPDATES, polling_timeout=25,
            )
        )
        log.info("telegram: polling")

    async def stop(self) -> None:
        if self._polling is not None:
            await self.dispatcher.stop_polling()
            try:
                await asyncio.wait_for(self._polling, 5)
            except (TimeoutError, asyncio.CancelledError):
                self._polling.cancel()
            self._polling = None
        if self._background:
            await asyncio.wait(self._background, timeout=10)
        await self.bot.session.close()

    async def register_commands(self) -> None:
        for language in (*LANGUAGES, None):
            translator = self.translations[language or self.settings.default_locale]
            commands = [BotCommand(command=name, description=translator._(description))
                        for name, description in COMMANDS]
            await self._call(partial(self.bot.set_my_commands, commands=commands,
                                     language_code=language), limited=False)

    # ---- webhook ---------------------------------------------------------------

    async def webhook(self, request: web.Request) -> web.Response:
        expected = self.settings.telegram_webhook_secret
        given = request.headers.get(SECRET_HEADER, "")
        if expected is None or not hmac.compare_digest(
            given.encode(), expected.get_secret_value().encode()
        ):
            return web.json_response({"ok": False, "error": "unauthorized"}, status=401)
        try:
            update = Update.model_validate_json(await request.read(), context={"bot": self.bot})
        except ValueError:  # not JSON, or not an update
            return web.json_response({"ok": False, "error": "bad update"}, status=400)
        query = update.callback_query
        if query is not None and self._for_desk(query):
            query = None  # the desk answers presses in its chat itself
        if query is not None:
            self._answered.add(query.id)
        task = asyncio.create_task(self.on_update(update))
        self._background.add(task)
        task.add_done_callback(self._background.discard)
        if query is not None:
            # Telegram carries out a method given in the reply to its request: the press
            # is answered (the button stops spinning) without a request of our own.
            return web.json_response({"method": "answerCallbackQuery",
                                      "callback_query_id": query.id})
        return web.json_response({"ok": True})

    def _for_desk(self, query: CallbackQuery) -> bool:
        """A press in the coordinators' chat (the desk answers those itself)."""
        return (self.desk is not None and query.message is not None
                and self.desk.owns(query.message.chat.id))

    # ---- updates -----------------------------------------------------------------

    async def on_update(self, update: Update) -> None:
        """An update from the webhook. Polling reaches the same two handlers through
        aiogram's dispatcher; a webhook update needs none of its routing (the flows
        route themselves), so it goes to them directly."""
        try:
            if update.message is not None:
                await self.on_message(update.message)
            elif update.callback_query is not None:
                await self.on_callback(update.callback_query)
        except Exception:
            metrics.ERRORS.labels(CHANNEL, "update").inc()
            log.exception("telegram: update %s failed", update.update_id)

    async def on_message(self, message: Message) -> None:
        sender = message.from_user
        if sender is None:
            return
        if message.chat.type != "private":
            if self.desk is not None and self.desk.owns(message.chat.id):
                await self.desk.on_message(message)
            return
        identity = Identity(CHANNEL, str(sender.id))
        extra: dict[str, Any] = {
            "language_hint": sender.language_code,
            "display_name": sender.first_name,
        }
        if message.text is not None:
            event = Event.from_text(identity, message.text, **extra)
        elif message.contact is not None and message.contact.user_id == sender.id:
            event = Event(identity, EventKind.CONTACT, phone=message.contact.phone_number,
                          **extra)
        elif message.photo or message.document is not None:
            # Passed on by file id (questions to coordinators); elsewhere "unsupported".
            file = InboundFile("photo", message.photo[-1].file_id) if message.photo else \
                InboundFile("document", message.document.file_id,  # type: ignore[union-attr]
                            message.document.file_name)  # type: ignore[union-attr]
            event = Event(identity, EventKind.FILE, text=message.caption or "", file=file,
                          **extra)
        else:
            event = Event(identity, EventKind.UNSUPPORTED, **extra)
        replies = await self.engine.handle(event)
        await self.render(identity, message.chat.id, replies)

    async def on_callback(self, query: CallbackQuery) -> None:
        if self._for_desk(query):
            assert self.desk is not None
            await self.desk.on_callback(query)  # answers the query itself
            return
        identity = Identity(CHANNEL, str(query.from_user.id))
        if query.id in self._answered:  # in the reply to the webhook
            self._answered.discard(query.id)
        else:
            try:
                # Through _call: flood control (429) or a server error on the answer must
                # not drop the step; only "too old" is given up on.
                await self._call(query.answer, raise_bad_request=True, limited=False)
            except TelegramBadRequest as error:  # too old to answer; the step goes on
                log.info("telegram: callback not answered: %s", error.message)
        if not query.data:
            return
        event = Event(identity, EventKind.BUTTON, payload=query.data,
                      language_hint=query.from_user.language_code,
                      display_name=query.from_user.first_name)
        replies = await self.engine.handle(event)
        origin = query.message if isinstance(query.message, Message) else None
        if origin is None:
            if query.message is None:
                return
            await self.render(identity, query.message.chat.id, replies)
            return
        await self.render(identity, origin.chat.id, replies, edit=origin.message_id)

    # ---- sending --------------------------------------------------------------

    async def render(self, identity: Identity, chat_id: int, replies: list[Reply],
                     edit: int | None = None, *, reply_to: int | None = None,
                     sent: list[int] | None = None) -> PushResult:
        """Send the replies; with `edit`, the first one replaces that message's text.
        In a group: `reply_to` makes each message a reply to that one, and `sent` gets
        the ids of the messages sent (the coordinators' desk keeps them)."""
        answering = ReplyParameters(message_id=reply_to, allow_sending_without_reply=True) \
            if reply_to else None
        try:
            for index, reply in enumerate(replies):
                chunks = split_text(reply.text, TEXT_LIMIT)
                markup = self._markup(chat_id, reply)
                if reply.attachment is not None:
                    if not await self._send_file(identity, chat_id, reply, markup, answering,
                                                 sent):
                        return PushResult.FAILED
                    continue
                editable = (index == 0 and edit is not None and len(chunks) == 1
                            and not isinstance(markup, ReplyKeyboardMarkup | ReplyKeyboardRemove))
                if editable and await self._edit(identity, chat_id, edit, chunks[0],
                                                 markup):  # type: ignore[arg-type]
                    continue
                for number, chunk in enumerate(chunks):
                    last = number == len(chunks) - 1
                    message = await self._call(
                        partial(self.bot.send_message, chat_id=chat_id, text=chunk,
                                reply_markup=markup if last else None,
                                reply_parameters=answering),
                        identity,
                    )
                    if message is None:
                        return PushResult.FAILED
                    if sent is not None:
                        sent.append(message.message_id)
                    metrics.REPLIES.labels(CHANNEL).inc()
        except Unreachable:
            return PushResult.UNREACHABLE
        return PushResult.SENT

    def _markup(self, chat_id: int, reply: Reply) -> Markup | None:
        if reply.ask_contact:
            self._contact_keyboard.add(chat_id)
            return ReplyKeyboardMarkup(
                keyboard=[[KeyboardButton(text=reply.ask_contact, request_contact=True)]],
                resize_keyboard=True, one_time_keyboard=True)
        if not reply.choices and chat_id in self._contact_keyboard:
            self._contact_keyboard.discard(chat_id)
            return ReplyKeyboardRemove()
        return keyboard(reply)

    async def push(self, external_id: str, replies: list[Reply], kind: str) -> PushResult:
        """A message the bot starts (a reminder, a notice)."""
        return await self.render(Identity(CHANNEL, external_id), int(external_id), replies)

    async def _send_file(self, identity: Identity, chat_id: int, reply: Reply,
                         markup: Markup | None, answering: ReplyParameters | None = None,
                         sent: list[int] | None = None) -> bool:
        """A file (a picture is shown as a photo) with the reply's text as its caption, or
        before it when the text is too long for a caption."""
        assert reply.attachment is not None
        caption: str | None = reply.text
        if len(reply.text) > CAPTION_LIMIT:
            for chunk in split_text(reply.text, TEXT_LIMIT):
                if await self._call(partial(self.bot.send_message, chat_id=chat_id, text=chunk,
                                            reply_parameters=answering), identity) is None:
                    return False
            caption = None
        upload: BufferedInputFile | str = reply.attachment.ref or BufferedInputFile(
            reply.attachment.data, filename=reply.attachment.filename)
        if reply.attachment.mime in ("image/png", "image/jpeg"):
            method = partial(self.bot.send_photo, chat_id=chat_id, photo=upload,
                             caption=caption, reply_markup=markup, reply_parameters=answering)
        else:
            method = partial(self.bot.send_document, chat_id=chat_id, document=upload,
                             caption=caption, reply_markup=markup, reply_parameters=answering)
        message = await self._call(method, identity)
        if message is None:
            return False
        if sent is not None:
            sent.append(message.message_id)
        metrics.REPLIES.labels(CHANNEL).inc()
        return True

    async def _edit(self, identity: Identity, chat_id: int, message_id: int | None,
                    text: str, markup: InlineKeyboardMarkup | None) -> bool:
        """Edit a message in place; False when it cannot be edited and must be sent anew."""
        try:
            edited = await self._call(
                partial(self.bot.edit_message_text, chat_id=chat_id, message_id=message_id,
                        text=text, reply_markup=markup),
                identity, raise_bad_request=True,
            )
        except TelegramBadRequest as error:
            # "not modified": the same screen again, already on display. Anything else
            # (too old, deleted, not a text message): send a new message instead.
            return "not modified" in error.message
        if edited is not None:
            metrics.REPLIES.labels(CHANNEL).inc()
        return True

    async def _call(self, make: Callable[[], Awaitable[T]], identity: Identity | None = None,
                    *, raise_bad_request: bool = False, attempts: int = 4,
                    limited: bool = True) -> T | None:
        """A Bot API request with retries; `limited` requests (messages) take their turn
        from the rate limiter, others (answering a button press, set-up) do not."""
        for attempt in range(attempts):
            if limited:
                await self.limiter.acquire(INTERACTIVE)
            try:
                return await make()
            except TelegramRetryAfter as error:
                log.warning("telegram: flood control, waiting %ss", error.retry_after)
                self.limiter.pause(error.retry_after)  # every sender waits, broadcasts too
            except TelegramForbiddenError as error:
                if identity is None:
                    return None
                log.info("telegram: %s blocked the bot", identity.external_id)
                await self.engine.mark_unreachable(identity)
                raise Unreachable(identity.external_id) from error
            except TelegramBadRequest as error:
                if raise_bad_request:
                    raise
                metrics.ERRORS.labels(CHANNEL, "send").inc()
                log.error("telegram: request refused: %s", error.message)
                return None
            except (TelegramServerError, TelegramNetworkError) as error:
                metrics.ERRORS.labels(CHANNEL, "send").inc()
                log.warning("telegram: %s (attempt %d)", error, attempt + 1)
                await asyncio.sleep(min(2**attempt * 0.5, 5))
        return None
