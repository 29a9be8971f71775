"""The coordinators' desk: the Telegram chat COORDINATOR_CHAT_ID where users' questions
arrive and coordinators answer them.

- A user's message (a `Relay` signal of handlers/handover.py, after the step is
  stored) is copied into the chat: the first one of a thread with a header (who asked:
  name, language, channel, country, earlier questions), follow-ups as replies to the
  thread's previous message there; each copy has a "Close" button. Photos and
  documents are sent by their Telegram file id, without downloading them.
- A coordinator answers by replying to any message of a thread there: the answer goes
  to the user on their channel through the `Notifier` (on WhatsApp outside the 24-hour
  window as the "notice" template), with a localized header. The message ids are rows
  of `handover_messages`, so this works after restarts.
- `/close` (as a reply, or `/close N`), `/threads`, `/thread N`; for the lead
  coordinators `/addcoordinator` (as a reply to someone's message, or with the id),
  `/removecoordinator`, `/coordinators`.

Only coordinators (ADMIN_IDS, or the `coordinators` table, read at every action) may
act; anyone else gets a short note and nothing reaches a user. Every action is logged.
"""

from __future__ import annotations

import contextlib
import io
import logging
import mimetypes
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from aiogram.methods import AnswerCallbackQuery, EditMessageReplyMarkup, TelegramMethod
from aiogram.types import (
    BufferedInputFile,
    CallbackQuery,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    Message,
)
from aiogram.types import (
    User as TelegramUser,
)

from bot.channels.telegram_send import SendError, TelegramFile
from bot.core.events import InboundFile
from bot.core.notify import Notifier, PushResult
from bot.core.replies import Attachment, Choice, Reply
from bot.db.models import HandoverMessage, User
from bot.services import coordinators, handover
from bot.services.clock import now
from handlers import handover_text as text

if TYPE_CHECKING:
    from bot.channels.telegram import TelegramChannel

log = logging.getLogger(__name__)

CLOSE_PREFIX = "hd:close:"
TEXT_LIMIT = 4096
CAPTION_LIMIT = 1024
COMMANDS = frozenset({"close", "threads", "thread", "addcoordinator", "removecoordinator",
                      "coordinators"})


def _cut(value: str, limit: int) -> str:
    return value if len(value) <= limit else value[:limit - 1].rstrip() + "…"


def _who(user: TelegramUser) -> str:
    return f"telegram:{user.id}"


class CoordinatorDesk:
    def __init__(self, channel: TelegramChannel, notifier: Notifier) -> None:
        assert channel.settings.coordinator_chat_id is not None
        self.channel = channel
        self.bot = channel.bot
        self.notifier = notifier
        self.settings = channel.settings
        self.chat_id: int = channel.settings.coordinator_chat_id
        self.translations = channel.translations
        # The coordinators' chat speaks the default language.
        self.t = channel.translations[channel.settings.default_locale]
        self.sessionmaker = channel.engine.sessionmaker
        # Files of users on other channels (a WhatsApp media id -> bytes and MIME type),
        # registered by the runner; a Telegram user's file is passed on by its file id.
        self.fetchers: dict[str, Callable[[str], Awaitable[tuple[bytes, str]]]] = {}
        channel.engine.subscribe(handover.Relay, self.relay)
        channel.engine.subscribe(handover.Closed, self.closed_elsewhere)

    def owns(self, chat_id: int) -> bool:
        return chat_id == self.chat_id

    # ---- sending into the chat --------------------------------------------------------

    def _close_markup(self, thread_id: int) -> InlineKeyboardMarkup:
        return InlineKeyboardMarkup(inline_keyboard=[[InlineKeyboardButton(
            text=self.t._("✅ Close the question"), callback_data=f"{CLOSE_PREFIX}{thread_id}")]])

    async def _say(self, text_: str, reply_to: int | None = None) -> None:
        with contextlib.suppress(SendError):
            await self.channel.sender.send(self.chat_id, Reply(_cut(text_, TEXT_LIMIT)),
                                           reply_to=reply_to or None)

    async def relay(self, signal: handover.Relay) -> None:
        """Copy a user's stored message into the coordinators' chat."""
        await self._copy(signal.message_id, signal.file)

    async def resend_pending(self, within: timedelta = timedelta(days=2)) -> int:
        """Copy the users' messages that never reached the chat (a stop between storing
        and copying, a failed copy); photos and documents are named, not attached, as
        only the relay right after the step has their file id. At start and every
        minute, for messages at least half a minute old (the relay has them before)."""
        moment = now()
        async with self.sessionmaker() as db:
            pending = await handover.uncopied(db, moment - within, moment - timedelta(seconds=30))
        copied = 0
        for message_id in pending:
            copied += await self._copy(message_id, None)
        if copied:
            log.info("handover: copied %d earlier messages to the coordinators' chat", copied)
        return copied

    async def _copy(self, message_id: int, file: InboundFile | None) -> bool:
        async with self.sessionmaker() as db, db.begin():
            if not await handover.claim_copy(db, message_id, self.chat_id):
                return False  # copied already, or being copied
        async with self.sessionmaker() as db:
            message = await db.get(HandoverMessage, message_id)
            found = await handover.history(db, message.thread_id) if message else None
            if found is None or message is None:
                return False
            thread, user, _ = found
            earlier = [number for number in await handover.thread_ids_of(db, user.id)
                       if number != thread.id]
            reply_to = await handover.latest_copy(db, thread.id, self.chat_id)
        header = text.question_header(self.t, thread, user, earlier) if reply_to is None \
            else text.follow_up_header(self.t, thread, user)
        words = (message.text or "").strip()
        upload = await self._upload(user.channel, file) if file is not None else None
        if file is not None and user.channel != "telegram" and upload is None:
            file = None  # could not be fetched: named in the text instead
        if file is None and message.attachment_kind:
            words = f"{text.attachment_label(self.t, message.attachment_kind)} {words}".strip()
        body = f"{header}\n\n{words}" if words else header
        sent: int | None = None
        try:
            copy = await self.channel.sender.send(
                self.chat_id, Reply(_cut(body, TEXT_LIMIT if file is None else CAPTION_LIMIT)),
                markup=self._close_markup(thread.id), reply_to=reply_to,
                file=TelegramFile(upload or file.ref, photo=file.kind == "photo")
                if file is not None else None)
            sent = copy.message_ids[-1]
        except SendError as error:
            log.warning("handover: copy refused: %s", error)
        async with self.sessionmaker() as db, db.begin():
            if sent is None:
                await handover.release_copy(db, message.id)
            else:
                await handover.set_copy(db, message.id, self.chat_id, sent)
        if sent is None:
            log.error("handover: could not copy message %s of question #%s to the "
                      "coordinators' chat; it will be tried again", message.id, thread.id)
            return False
        log.info("handover: question #%s from %s:%s copied to the coordinators' chat",
                 thread.id, user.channel, user.external_id)
        return True

    async def _upload(self, channel: str, file: InboundFile) -> BufferedInputFile | None:
        """A file of a user on another channel, fetched to be uploaded to Telegram."""
        fetch = self.fetchers.get(channel)
        if fetch is None:
            return None
        try:
            data, mime = await fetch(file.ref)
        except Exception:
            log.exception("handover: could not fetch a %s file of a %s user", file.kind, channel)
            return None
        extension = mimetypes.guess_extension(mime) or ""
        return BufferedInputFile(data, filename=file.name or f"{file.kind}{extension}")

    # ---- updates from the chat --------------------------------------------------------

    async def on_message(self, message: Message) -> None:
        sender = message.from_user
        if sender is None or sender.is_bot:
            return
        raw = (message.text or "").strip()
        if raw.startswith("/"):
            head, _, args = raw[1:].partition(" ")
            command = head.split("@", 1)[0].lower()
            if command in COMMANDS:
                await self._command(message, sender, command, args.strip())
            return
        if message.reply_to_message is None:
            return  # the coordinators talking among themselves
        async with self.sessionmaker() as db:
            thread = await handover.by_copy(db, self.chat_id,
                                            message.reply_to_message.message_id)
        if thread is None:
            return
        if not await self._allowed(sender):
            log.warning("handover: %s (not a coordinator) replied to question #%s; nothing "
                        "was sent", _who(sender), thread.id)
            await self._say(self.t._("Only the Fund's coordinators can answer questions; "
                                     "nothing was sent."), message.message_id)
            return
        await self._answer(message, sender, thread.id)

    async def on_callback(self, query: CallbackQuery) -> None:
        data = query.data or ""
        if not data.startswith(CLOSE_PREFIX) or not data[len(CLOSE_PREFIX):].isdigit():
            await self._request(query.answer())
            return
        if not await self._allowed(query.from_user):
            log.warning("handover: %s (not a coordinator) pressed close", _who(query.from_user))
            await self._request(query.answer(
                text=self.t._("Only the Fund's coordinators can do this."), show_alert=True))
            return
        await self._request(query.answer())
        origin = query.message if isinstance(query.message, Message) else None
        await self._close(query.from_user, int(data[len(CLOSE_PREFIX):]),
                          origin.message_id if origin else None)

    async def _request(self, method: TelegramMethod[Any]) -> None:
        """Answer a press (no turn from the limiter) or edit a message (a turn)."""
        try:
            await self.channel.sender.call(
                method, limited=not isinstance(method, AnswerCallbackQuery))
        except SendError as error:
            log.warning("handover: %s not carried out: %s", method.__api_method__, error)

    # ---- actions ------------------------------------------------------------------------

    async def _allowed(self, sender: TelegramUser, lead: bool = False) -> bool:
        if lead:
            return sender.id in self.settings.admin_ids
        async with self.sessionmaker() as db:
            return await coordinators.is_coordinator(db, self.settings, sender.id)

    async def _command(self, message: Message, sender: TelegramUser, command: str,
                       args: str) -> None:
        lead = command in ("addcoordinator", "removecoordinator", "coordinators")
        if not await self._allowed(sender, lead=lead):
            log.warning("handover: %s tried /%s in the coordinators' chat", _who(sender),
                        command)
            await self._say(self.t._("This is for the Fund's lead coordinators only.") if lead
                            else self.t._("This is for the Fund's coordinators only."),
                            message.message_id)
            return
        replied = message.reply_to_message
        if command == "threads":
            log.info("coordinator %s: list open questions", _who(sender))
            async with self.sessionmaker() as db:
                threads = await handover.open_threads(db)
            await self._say(text.threads_text(self.t, threads, now()), message.message_id)
        elif command == "thread":
            async with self.sessionmaker() as db:
                found = await handover.history(db, int(args)) if args.isdigit() else None
            log.info("coordinator %s: read question #%s", _who(sender), args)
            await self._say(text.history_text(self.t, *found, now()) if found else
                            self.t._("No question with that number. /threads lists the open "
                                     "ones."), message.message_id)
        elif command == "close":
            thread_id: int | None = int(args) if args.isdigit() else None
            if thread_id is None and replied is not None:
                async with self.sessionmaker() as db:
                    thread = await handover.by_copy(db, self.chat_id, replied.message_id)
                thread_id = thread.id if thread else None
            if thread_id is None:
                await self._say(self.t._("Reply /close to a message of the question, or type "
                                         "/close and its number."), message.message_id)
                return
            await self._close(sender, thread_id, None, message.message_id)
        elif command == "coordinators":
            log.info("lead %s: list coordinators", _who(sender))
            async with self.sessionmaker() as db:
                people = await coordinators.listing(db, self.settings)
            await self._say(text.coordinators_text(self.t, people), message.message_id)
        else:
            await self._manage(message, sender, command, args)

    async def _manage(self, message: Message, sender: TelegramUser, command: str,
                      args: str) -> None:
        target = message.reply_to_message.from_user \
            if message.reply_to_message is not None else None
        if target is not None and target.is_bot:
            target = None
        telegram_id = int(args) if args.isdigit() else (target.id if target else None)
        if telegram_id is None:
            await self._say(self.t._("Reply with the command to a message of the person, or "
                                     "add their Telegram user id."), message.message_id)
            return
        name = target.first_name if target and target.id == telegram_id else None
        async with self.sessionmaker() as db, db.begin():
            if command == "addcoordinator":
                changed = await coordinators.add(db, telegram_id, sender.id, now(), name)
            elif telegram_id in self.settings.admin_ids:
                changed = False
            else:
                changed = await coordinators.remove(db, telegram_id)
        shown = name or str(telegram_id)
        if command == "addcoordinator":
            if changed:
                log.info("lead %s added coordinator telegram:%s", _who(sender), telegram_id)
            words = self.t._("Added: {name} is a coordinator now.") if changed \
                else self.t._("{name} is a coordinator already.")
        else:
            if changed:
                log.info("lead %s removed coordinator telegram:%s", _who(sender), telegram_id)
            words = self.t._("Removed: {name} is no longer a coordinator.") if changed \
                else self.t._("{name} is not a coordinator that can be removed.")
        await self._say(words.format(name=shown), message.message_id)

    async def _answer(self, message: Message, sender: TelegramUser, thread_id: int) -> None:
        async with self.sessionmaker() as db:
            found = await handover.history(db, thread_id)
        if found is None:
            return
        thread, user, _ = found
        if thread.status != "open":
            await self._say(self.t._("Question #{id} is closed, so nothing was sent. The "
                                     "person can ask again from the menu.").format(id=thread.id),
                            message.message_id)
            return
        t = self.translations.get(user.language, self.settings.default_locale)
        words = (message.text or message.caption or "").strip()
        attachment, kind = await self._attachment(message)
        if not words and attachment is None:
            await self._say(self.t._("Only text, photos and documents can be sent."),
                            message.message_id)
            return
        reply = Reply(text.answer_text(t, words) if words else t._("Answer from a coordinator:"),
                      choices=((Choice(t._("✍️ Reply"), "ho:reply"),),
                               (Choice(t._("⬅️ Main menu"), "menu"),)),
                      attachment=attachment)
        result = await self.notifier.push(user.channel, user.external_id, [reply], "notice")
        if result is not PushResult.SENT:
            log.warning("handover: answer of %s to question #%s not delivered: %s",
                        _who(sender), thread.id, result.value)
            await self._say({
                PushResult.UNREACHABLE: self.t._("⚠️ Not delivered: the person blocked the "
                                                 "bot or cannot be reached."),
                PushResult.NO_CHANNEL: self.t._("⚠️ Not delivered: the person's channel "
                                                "cannot receive messages from the bot."),
            }.get(result, self.t._("⚠️ Not delivered, please try again in a minute.")),
                message.message_id)
            return
        moment = now()
        async with self.sessionmaker() as db, db.begin():
            thread_row = await handover.get_thread(db, thread.id)
            author = await coordinators.telegram_user(db, sender.id)
            assert thread_row is not None
            await handover.add_message(db, thread_row, "out", text=words or None,
                                       attachment_kind=kind,
                                       author_id=author.id if author else None, now=moment,
                                       group_chat_id=self.chat_id,
                                       group_message_id=message.message_id)
            await handover.answered(db, thread_row, author.id if author else None, moment)
        log.info("coordinator %s answered question #%s of %s:%s", _who(sender), thread.id,
                 user.channel, user.external_id)
        await self._say(self.t._("✅ Sent to {name}.").format(
            name=user.display_name or text.CHANNEL_NAMES.get(user.channel, user.channel)),
            message.message_id)

    async def _attachment(self, message: Message) -> tuple[Attachment | None, str | None]:
        """A photo or document of an answer, downloaded to be sent on any channel."""
        if message.photo:
            file_id, name, mime, kind = message.photo[-1].file_id, "photo.jpg", "image/jpeg", \
                "photo"
        elif message.document is not None:
            document = message.document
            file_id, kind = document.file_id, "document"
            name = document.file_name or "document"
            mime = document.mime_type or "application/octet-stream"
        else:
            return None, None
        buffer = io.BytesIO()
        try:
            await self.bot.download(file_id, destination=buffer)
        except Exception:
            log.exception("handover: could not download %s", file_id)
            return None, None
        return Attachment(name, buffer.getvalue(), mime), kind

    async def _close(self, sender: TelegramUser, thread_id: int, copy_id: int | None,
                     reply_to: int | None = None) -> None:
        async with self.sessionmaker() as db, db.begin():
            author = await coordinators.telegram_user(db, sender.id)
            thread = await handover.close(db, thread_id, author.id if author else None, now())
        if copy_id is not None:  # the "Close" button goes, whoever closed it first
            await self._request(EditMessageReplyMarkup(chat_id=self.chat_id,
                                                       message_id=copy_id, reply_markup=None))
        if thread is None:
            await self._say(self.t._("Question #{id} is not open.").format(id=thread_id),
                            reply_to or copy_id)
            return
        log.info("coordinator %s closed question #%s", _who(sender), thread_id)
        await self._tell_closed(thread.user_id, thread_id)
        await self._say(self.t._("🔒 Question #{id} closed by {name}.").format(
            id=thread_id, name=sender.first_name), reply_to or copy_id)

    async def closed_elsewhere(self, signal: handover.Closed) -> None:
        """Closed in a coordinator's private chat: tell the user and the chat."""
        async with self.sessionmaker() as db:
            thread = await handover.get_thread(db, signal.thread_id)
            last = await handover.latest_copy(db, signal.thread_id, self.chat_id)
        if thread is None:
            return
        await self._tell_closed(thread.user_id, thread.id)
        await self._say(self.t._("🔒 Question #{id} closed by {name}.").format(
            id=thread.id, name=signal.by_name or "—"), last)

    async def _tell_closed(self, user_id: int, thread_id: int) -> None:
        async with self.sessionmaker() as db:
            user = await db.get(User, user_id)
        if user is None:
            return
        t = self.translations.get(user.language, self.settings.default_locale)
        reply = Reply(text.closed_notice(t, thread_id),
                      choices=((Choice(t._("💬 Ask a coordinator"), "ho"),),
                               (Choice(t._("⬅️ Main menu"), "menu"),)))
        result = await self.notifier.push(user.channel, user.external_id, [reply], "notice")
        if result is not PushResult.SENT:
            log.warning("handover: closing notice of #%s not delivered: %s", thread_id,
                        result.value)
