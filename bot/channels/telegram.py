"""Telegram through aiogram: updates become events, replies become messages.

Polling and the webhook feed the same aiogram `Dispatcher`, so a middleware, filter or
error handler works in both modes. An update is acknowledged only once it is handled,
so none is lost to a crash or a database outage:

- webhook: handled within its request; 200 means it was handled, 503 (the database
  could not be reached) or 500 (handling failed) makes Telegram deliver it again;
- polling: the offset moves past an update only once it is handled; after an outage
  the updates from the first one not handled on are fetched again;
- the engine stores each `update_id` with its step, so an update delivered again after
  its step was stored (the acknowledgement was lost) is not handled twice.

- every callback query is answered: the handler returns the answer, which goes in the
  reply to the webhook's request, or (polling) is sent as a request of its own;
- a button press edits the message it came from; anything else is sent anew;
- sending (splitting, files, the rate limiter, 429 and 403) is bot/channels/telegram_send.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from aiogram import Bot, Dispatcher, Router
from aiogram.client.telegram import TelegramAPIServer
from aiogram.methods import (
    AnswerCallbackQuery,
    DeleteMyCommands,
    GetUpdates,
    SetMyCommands,
    TelegramMethod,
)
from aiogram.types import (
    BotCommand,
    BotCommandScopeChat,
    CallbackQuery,
    ErrorEvent,
    InlineKeyboardMarkup,
    InputFile,
    KeyboardButton,
    Message,
    ReplyKeyboardMarkup,
    ReplyKeyboardRemove,
    TelegramObject,
    Update,
)
from aiohttp import web

from bot import LANGUAGES
from bot.channels.telegram_events import CHANNEL, message_event
from bot.channels.telegram_send import (
    TEXT_LIMIT,
    GaveUp,
    Markup,
    Refused,
    SendError,
    TelegramSender,
    Unreachable,
    keyboard,
)
from bot.channels.telegram_session import BotApiSession
from bot.config import Settings
from bot.core import metrics
from bot.core.engine import Engine, Unavailable
from bot.core.events import Event, EventKind, Identity, LanguageChosen
from bot.core.i18n import N_, Translations, Translator
from bot.core.notify import Pushed, PushResult
from bot.core.ratelimit import INTERACTIVE, PUSH, PriorityLimiter, SharedBudget
from bot.core.replies import Reply

if TYPE_CHECKING:
    from bot.channels.telegram_desk import CoordinatorDesk

log = logging.getLogger(__name__)

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

Handler = Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]]

POLL_TIMEOUT = 25  # seconds a getUpdates request waits for updates
# Seconds before updates the database could not take are fetched again, growing from the
# first to the last while the outage lasts.
REFETCH_PAUSES = (0.5, 1.0, 2.0, 5.0)


class _Deferred:
    """What the dispatcher returns for an update the database could not take."""


DEFERRED = _Deferred()


class TelegramChannel:
    def __init__(self, engine: Engine, settings: Settings, translations: Translations, *,
                 budget: SharedBudget | None = None) -> None:
        assert settings.bot_token is not None
        self.engine = engine
        self.settings = settings
        self.translations = translations
        session = BotApiSession(api=TelegramAPIServer.from_base(settings.telegram_api_url))
        self.bot = Bot(settings.bot_token.get_secret_value(), session=session)
        # BROADCAST_RATE for every send: replies and pushes go ahead of broadcast
        # messages (bot/channels/broadcast_senders.py), which share this limiter. A
        # small burst (a fifth of a second's worth) keeps any second near the rate.
        # `budget`: the bot's limit shared with the other processes (keyed by the bot's
        # id, the token's public part). Paid broadcasts raise the rate for everything.
        rate = settings.telegram_rate
        self.limiter = PriorityLimiter(
            rate, burst=rate / 5, shared=budget,
            key=f"telegram:{settings.bot_token.get_secret_value().split(':')[0]}")
        self.sender = TelegramSender(self.bot, self.limiter)
        # The flows keep their own state (bot/core/engine.py): no aiogram FSM.
        self.dispatcher = Dispatcher(disable_fsm=True)
        self.dispatcher.errors.register(self.on_error)
        if settings.telegram_mode != "webhook":
            self.dispatcher.update.outer_middleware(self.carry_out)
        self._stop_polling = asyncio.Event()
        router = Router(name="channel")
        router.message.register(self.on_message)
        router.callback_query.register(self.on_callback)
        self.dispatcher.include_router(router)
        self._polling: asyncio.Task[None] | None = None
        # Polling's offset: past the updates handled, and as last sent to Telegram.
        self._offset: int | None = None
        self._confirmed: int | None = None
        # Chats that show the "share my phone" keyboard, to remove it afterwards.
        self._contact_keyboard: set[int] = set()
        # The coordinators' chat (bot/channels/telegram_desk.py), set by the runner.
        self.desk: CoordinatorDesk | None = None

    # ---- start and stop -------------------------------------------------------

    async def start(self, lead: bool = True) -> None:
        """Check the token and learn the bot's name; `lead`: also what one process of
        several does (the runner calls `lead` when this process becomes the leader)."""
        me = await self.bot.get_me()
        self.engine.bot_username = me.username
        self.engine.subscribe(LanguageChosen, self.chat_commands)
        if lead:
            await self.lead()

    async def lead(self) -> None:
        """The singletons: the commands, then the webhook or the polling loop."""
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
        self._stop_polling.clear()
        self._polling = asyncio.create_task(self._poll())
        log.info("telegram: polling")

    async def step_down(self, wait: float = 5.0) -> None:
        """Stop polling (another process polls now, or nobody: stopping)."""
        if self._polling is not None:
            self._stop_polling.set()  # updates being handled are finished first
            try:
                await asyncio.wait_for(self._polling, wait)
            except (TimeoutError, asyncio.CancelledError):
                self._polling.cancel()
            self._polling = None

    async def stop(self, wait: float = 5.0) -> None:
        await self.step_down(wait)
        await self.bot.session.close()

    async def register_commands(self) -> None:
        """The command list ("/" menu) for each language of Telegram's apps; a user whose
        app speaks none of them sees DEFAULT_LOCALE's. A user who chose another language
        or script gets a list of their chat's own (`chat_commands`)."""
        for language in (*LANGUAGES, None):
            commands = _commands(self.translations[language or self.settings.default_locale])
            try:
                await self.sender.call(SetMyCommands(commands=commands, language_code=language),
                                       limited=False)
            except SendError as error:
                log.error("telegram: commands for %s not set: %s", language or "default", error)

    async def chat_commands(self, signal: LanguageChosen) -> None:
        """A private chat's command list in the language the user chose (Kazakh in
        Latin or tote too, which no app language names), set when they choose or change
        it and when they start again; none when they are forgotten. A choice the list of
        their app's language shows already needs no request. A change always sets the
        chat's own list, also back to the app's language: the list then stays in the
        language chosen if the app's language changes later. A failure is logged; the
        conversation goes on, the list shown as before."""
        if signal.identity.channel != CHANNEL:
            return
        scope = BotCommandScopeChat(chat_id=int(signal.identity.external_id))
        method: TelegramMethod[bool]
        if signal.language is None:
            method = DeleteMyCommands(scope=scope)
        elif signal.previous in (None, signal.language) \
                and signal.language == self._app_commands_language(signal.hint):
            return
        else:
            method = SetMyCommands(commands=_commands(self.translations[signal.language]),
                                   scope=scope)
        try:
            await self.sender.call(method)  # its turn from the limiter, as a reply's
        except SendError as error:
            log.warning("telegram: a chat's commands not set: %s", error)

    def _app_commands_language(self, hint: str | None) -> str:
        """The language of the list Telegram shows an app in `hint` (`register_commands`:
        Telegram matches the two letters of the app's language)."""
        code = (hint or "")[:2].lower()
        return code if code in LANGUAGES else self.settings.default_locale

    # ---- webhook ---------------------------------------------------------------

    async def webhook(self, request: web.Request) -> web.Response:
        """`POST /telegram/webhook`: the update goes through the dispatcher within this
        request; a method a handler returns (the answer to a button press) goes in the
        reply, and Telegram carries it out."""
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
        try:
            # The request waits for the handling however long it takes: should Telegram
            # give up waiting (after 60 s) and deliver the update again, the engine knows
            # its id. (aiogram's `feed_webhook_update` would answer 200 at 55 s, before
            # the update is handled, and turns what the error handler returns into None.)
            result: Any = await self.dispatcher.feed_update(self.bot, update)
        except Exception:
            log.exception("telegram: update %s failed", update.update_id)
            return web.json_response({"ok": False, "error": "not handled"}, status=500)
        if result is DEFERRED:  # nothing stored: Telegram delivers it again
            return web.json_response({"ok": False, "error": "unavailable"}, status=503)
        if not isinstance(result, TelegramMethod):
            return web.json_response({"ok": True})
        return web.json_response(await self._in_reply(result))

    async def _in_reply(self, method: TelegramMethod[Any]) -> dict[str, Any]:
        """A method as the body of the webhook's reply; one with a file to upload cannot
        go there and is sent as a request instead."""
        files: dict[str, InputFile] = {}
        body: dict[str, Any] = {"method": method.__api_method__}
        for key, value in method.model_dump(warnings=False).items():
            prepared = self.bot.session.prepare_value(value, bot=self.bot, files=files)
            if prepared is not None:
                body[key] = prepared
        if files:
            await self._carry_out_method(method)
            return {"ok": True}
        return body

    # ---- polling ---------------------------------------------------------------------

    async def _poll(self) -> None:
        try:
            await self._poll_loop()
        finally:
            await self._confirm()

    async def _confirm(self) -> None:
        """Polling stops (shutting down, or no longer the leader): confirm what was
        handled, so that the process polling next does not get it again."""
        if self._offset is None or self._offset == self._confirmed:
            return
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.bot(GetUpdates(
                offset=self._offset, timeout=0, limit=1, allowed_updates=ALLOWED_UPDATES)), 2)
        self._confirmed = self._offset

    async def _poll_loop(self) -> None:
        """Fetch, handle (a batch's updates side by side; one user's in order, by the
        engine's lock), and move the offset past the leading run of handled updates.
        The offset confirms them to Telegram with the next request, so an update is
        never confirmed before it is handled."""
        offset: int | None = None
        handled: set[int] = set()  # ids at or past the offset that are handled already
        deferrals = fetch_failures = 0
        while not self._stop_polling.is_set():
            if deferrals and await self._stopped_within(
                    REFETCH_PAUSES[min(deferrals, len(REFETCH_PAUSES)) - 1]):
                break
            try:
                self._confirmed = offset
                updates = await self._fetch(offset)
            except Exception as error:
                fetch_failures += 1
                if fetch_failures == 1:
                    log.warning("telegram: fetching updates failed (%s); trying again",
                                type(error).__name__)
                if await self._stopped_within(min(fetch_failures, 30)):
                    break
                continue
            if updates is None:  # stopping
                break
            if fetch_failures:
                log.warning("telegram: fetching updates works again after %d failures",
                            fetch_failures)
                fetch_failures = 0
            handled |= await self._feed_batch(
                [update for update in updates if update.update_id not in handled])
            deferrals = deferrals + 1 if not handled.issuperset(
                update.update_id for update in updates) else 0
            for update in updates:
                if update.update_id not in handled:
                    break
                offset = self._offset = update.update_id + 1
            # Handled here but fetched again (behind one that waits): not run twice.
            handled = {update_id for update_id in handled if offset is None
                       or update_id >= offset}

    async def _fetch(self, offset: int | None) -> list[Update] | None:
        """The next updates, or None when polling is told to stop meanwhile."""
        fetch = asyncio.ensure_future(self.bot(GetUpdates(
            offset=offset, timeout=POLL_TIMEOUT, allowed_updates=ALLOWED_UPDATES)))
        stop = asyncio.ensure_future(self._stop_polling.wait())
        await asyncio.wait({fetch, stop}, return_when=asyncio.FIRST_COMPLETED)
        stop.cancel()
        if not fetch.done():
            fetch.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await fetch
            return None
        return fetch.result()

    async def _stopped_within(self, seconds: float) -> bool:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stop_polling.wait(), seconds)
        return self._stop_polling.is_set()

    async def _feed_batch(self, updates: list[Update]) -> set[int]:
        """The ids of the updates handled: each chat's in order, side by side with the
        other chats'; a chat's updates after one the database could not take wait for
        the next fetch, so none overtakes it."""
        chats: dict[int, list[Update]] = {}
        for update in updates:
            chats.setdefault(_chat_of(update), []).append(update)
        handled: set[int] = set()

        async def in_order(chat: list[Update]) -> None:
            for update in chat:
                if not await self._feed(update):
                    return
                handled.add(update.update_id)

        await asyncio.gather(*(in_order(chat) for chat in chats.values()))
        return handled

    async def _feed(self, update: Update) -> bool:
        """One polled update through the dispatcher: False when the database could not
        take it (it is fetched again); a failure of another kind is logged and the
        update left behind, as Telegram would not deliver it differently again."""
        try:
            return await self.dispatcher.feed_update(self.bot, update) is not DEFERRED
        except Exception:
            log.exception("telegram: update %s failed", update.update_id)
            return True

    # ---- updates -----------------------------------------------------------------

    async def carry_out(self, handler: Handler, update: TelegramObject,
                        data: dict[str, Any]) -> Any:
        """Polling: a method a handler returns is sent as a request of its own, with the
        sender's retries (aiogram would try it once). A press whose handling failed is
        answered all the same: a polled update is not delivered again."""
        try:
            result = await handler(update, data)
        except Unavailable:
            raise  # fetched again: answered when it is handled
        except Exception:
            query = update.callback_query if isinstance(update, Update) else None
            if query is not None and not self._for_desk(query):
                await self._carry_out_method(query.answer())
            raise
        if isinstance(result, TelegramMethod):
            await self._carry_out_method(result)
            return None
        return result

    async def _carry_out_method(self, method: TelegramMethod[Any]) -> None:
        try:
            await self.sender.call(method, limited=False)
        except Refused as error:  # a press too old to answer; the step is done anyway
            log.info("telegram: %s not carried out: %s", method.__api_method__, error)
        except (Unreachable, GaveUp) as error:
            log.warning("telegram: %s not carried out: %s", method.__api_method__, error)

    async def on_error(self, event: ErrorEvent) -> _Deferred:
        """An update the database could not take: DEFERRED (the engine has reported the
        outage). Any other failure outside a flow's step (the engine answers a failed
        step itself), such as sending its replies: counted, then passed on, so the
        webhook answers 500 and Telegram delivers the update again, to be handled anew
        (its id is unmarked); polling logs it and goes on."""
        if isinstance(event.exception, Unavailable):
            return DEFERRED
        metrics.ERRORS.labels(CHANNEL, "update").inc()
        if self.settings.telegram_mode == "webhook":  # delivered again: answered again
            with contextlib.suppress(Exception):
                await self.engine.unmark_update(CHANNEL, str(event.update.update_id))
        raise event.exception

    async def on_message(self, message: Message, event_update: Update) -> None:
        sender = message.from_user
        if sender is None:
            return
        update_id = str(event_update.update_id)
        if message.chat.type != "private":
            if self.desk is not None and self.desk.owns(message.chat.id):
                await self.desk.on_message(message, update_id)
            return
        event = message_event(message, sender, language_hint=sender.language_code,
                              update_id=update_id, sequence=event_update.update_id)
        replies = await self.engine.handle(event)
        await self.render(event.identity, message.chat.id, replies)

    async def on_callback(self, query: CallbackQuery,
                          event_update: Update) -> AnswerCallbackQuery | None:
        """A button press: the step, then the answer to the press (returned: in the
        webhook's reply, or sent by `carry_out`)."""
        update_id = str(event_update.update_id)
        if self._for_desk(query):
            assert self.desk is not None
            await self.desk.on_callback(query, update_id)  # answers its chat's presses
            return None
        answer = query.answer()
        if not query.data:
            return answer
        identity = Identity(CHANNEL, str(query.from_user.id))
        event = Event(identity, EventKind.BUTTON, payload=query.data,
                      language_hint=query.from_user.language_code,
                      display_name=query.from_user.first_name, update_id=update_id,
                      sequence=event_update.update_id)
        replies = await self.engine.handle(event)
        origin = query.message if isinstance(query.message, Message) else None
        if origin is not None:
            await self.render(identity, origin.chat.id, replies, edit=origin.message_id)
        elif query.message is not None:
            await self.render(identity, query.message.chat.id, replies)
        return answer

    def _for_desk(self, query: CallbackQuery) -> bool:
        """A press in the coordinators' chat (the desk answers those itself)."""
        return (self.desk is not None and query.message is not None
                and self.desk.owns(query.message.chat.id))

    # ---- sending --------------------------------------------------------------

    async def render(self, identity: Identity, chat_id: int, replies: list[Reply],
                     edit: int | None = None, *, reply_to: int | None = None,
                     sent: list[int] | None = None,
                     priority: int = INTERACTIVE) -> PushResult:
        """Send the replies; with `edit`, the first one replaces that message's text.
        In a group: `reply_to` makes each message a reply to that one. `sent` gets the
        ids of the messages sent (the coordinators' desk and `push` keep them).
        `priority`: the turn from the limiter (a reply's, or `PUSH`)."""
        try:
            for index, reply in enumerate(replies):
                markup = self._markup(chat_id, reply)
                if (index == 0 and edit is not None and reply.attachment is None
                        and len(reply.text) <= TEXT_LIMIT
                        and isinstance(markup, InlineKeyboardMarkup | None)):
                    try:
                        if await self.sender.edit(chat_id, edit, reply.text, markup):
                            metrics.REPLIES.labels(CHANNEL).inc()
                        continue
                    except Refused:
                        pass  # too old, deleted, not a text message: sent anew
                result = await self.sender.send(chat_id, reply, markup=markup,
                                                reply_to=reply_to, priority=priority)
                if sent is not None:
                    sent.extend(result.message_ids)
                metrics.REPLIES.labels(CHANNEL).inc(len(result.message_ids))
        except Unreachable:
            log.info("telegram: a user blocked the bot")
            await self.engine.mark_unreachable(identity)
            return PushResult.UNREACHABLE
        except Refused as error:
            metrics.ERRORS.labels(CHANNEL, "send").inc()
            log.error("telegram: request refused: %s", error)
            return PushResult.FAILED
        except GaveUp:
            return PushResult.FAILED
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

    async def push(self, external_id: str, replies: list[Reply], kind: str) -> Pushed:
        """A message the bot starts (a reminder, a notice), and the ids of what went out."""
        sent: list[int] = []
        result = await self.render(Identity(CHANNEL, external_id), int(external_id), replies,
                                   sent=sent, priority=PUSH)
        return Pushed(result, tuple(str(message_id) for message_id in sent))


def _commands(translator: Translator) -> list[BotCommand]:
    return [BotCommand(command=name, description=translator._(description))
            for name, description in COMMANDS]


def _chat_of(update: Update) -> int:
    """The chat an update belongs to (0 for a kind this channel does not take)."""
    if update.message is not None:
        return update.message.chat.id
    if update.callback_query is not None:
        origin = update.callback_query.message
        return origin.chat.id if origin is not None else update.callback_query.from_user.id
    return 0
