"""The coordinators' desk: the Telegram chat COORDINATOR_CHAT_ID where users' questions
arrive and coordinators answer them.

The desk does the channel's part only:

- what coordinators do there (commands, a reply to a message, the "Close" button)
  becomes a channel-neutral event with `Place.COORDINATORS`, the message's id and the
  message it replies to; the flows (handlers/handover_desk.py, handlers/coordinators.py)
  check the role, act, log and answer, as in a private chat. Their answer is sent as a
  reply to the coordinator's message; the answer to a button press there is a short
  note only the presser sees. Talk that is neither a command nor a reply is left alone.
- A user's message (a `Relay` signal of handlers/handover.py, after the step is
  stored) is copied into the chat with the words of the `question_copy` notice: the
  first one of a thread with who asked, follow-ups as replies to the thread's previous
  message there; each copy has a "Close" button. Photos and documents of Telegram users
  are sent by their file id, without downloading them; those of other channels are
  fetched through the `Notifier`. The copies' message ids are rows of
  `handover_messages`, so a reply to any of them finds the thread after restarts too.
- A thread closed anywhere (the `Closed` signal): its "Close" buttons go and the chat
  gets the `question_closed_note`.
"""

from __future__ import annotations

import logging
import mimetypes
from dataclasses import replace
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from aiogram.methods import AnswerCallbackQuery, EditMessageReplyMarkup, TelegramMethod
from aiogram.types import CallbackQuery, Message

from bot.channels.telegram_events import CHANNEL, message_event, quoted
from bot.channels.telegram_send import CAPTION_LIMIT, SendError
from bot.clock import now
from bot.core.events import Event, EventKind, Identity, InboundFile, Place
from bot.core.notify import Notifier, PushResult
from bot.core.replies import Attachment
from bot.db.models import HandoverMessage
from bot.services import handover

if TYPE_CHECKING:
    from bot.channels.telegram import TelegramChannel

log = logging.getLogger(__name__)

ALERT_LIMIT = 200  # the text of an answer to a button press


def _cut(value: str, limit: int) -> str:
    return value if len(value) <= limit else value[:limit - 1].rstrip() + "…"


class CoordinatorDesk:
    def __init__(self, channel: TelegramChannel, notifier: Notifier) -> None:
        assert channel.settings.coordinator_chat_id is not None
        self.channel = channel
        self.engine = channel.engine
        self.bot = channel.bot
        self.notifier = notifier
        self.settings = channel.settings
        self.chat_id: int = channel.settings.coordinator_chat_id
        self.group = Identity(CHANNEL, str(self.chat_id))
        self.sessionmaker = channel.engine.sessionmaker
        channel.engine.subscribe(handover.Relay, self.relay)
        channel.engine.subscribe(handover.Closed, self.closed)

    def owns(self, chat_id: int) -> bool:
        return chat_id == self.chat_id

    # ---- updates from the chat: events for the flows ------------------------------------

    async def on_message(self, message: Message, update_id: str) -> None:
        sender = message.from_user
        if sender is None or sender.is_bot:
            return
        reply_to = quoted(message)
        event = message_event(message, sender, place=Place.COORDINATORS,
                              message_id=str(message.message_id), reply_to=reply_to,
                              update_id=update_id)
        if event.kind is not EventKind.COMMAND and reply_to is None:
            return  # the coordinators talking among themselves
        replies = await self.engine.handle(event)
        if replies:
            await self.channel.render(self.group, self.chat_id, replies,
                                      reply_to=message.message_id)

    async def on_callback(self, query: CallbackQuery, update_id: str) -> None:
        """A press in the chat: the flows' answer is shown to the presser alone."""
        words = ""
        if query.data:
            origin = query.message
            event = Event(Identity(CHANNEL, str(query.from_user.id)), EventKind.BUTTON,
                          payload=query.data, display_name=query.from_user.first_name,
                          place=Place.COORDINATORS, update_id=update_id,
                          message_id=str(origin.message_id) if origin is not None else None)
            words = "\n\n".join(reply.text for reply in await self.engine.handle(event))
        await self._request(query.answer(text=_cut(words, ALERT_LIMIT) or None,
                                         show_alert=bool(words)))

    # ---- the copies of users' messages --------------------------------------------------

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
        attachment = await self._attachment(user.channel, file) if file is not None else None
        [reply] = self.engine.compose(
            "question_copy", None, thread=thread, user=user, earlier=earlier,
            first=reply_to is None, words=message.text,
            unattached=message.attachment_kind if attachment is None else None)
        if attachment is not None:
            reply = replace(reply, text=_cut(reply.text, CAPTION_LIMIT), attachment=attachment)
        sent: list[int] = []
        result = await self.channel.render(self.group, self.chat_id, [reply],
                                           reply_to=reply_to, sent=sent)
        async with self.sessionmaker() as db, db.begin():
            if result is not PushResult.SENT or not sent:
                await handover.release_copy(db, message.id)
            else:
                await handover.set_copy(db, message.id, self.chat_id, sent[-1])
        if result is not PushResult.SENT or not sent:
            log.error("handover: could not copy message %s of question #%s to the "
                      "coordinators' chat; it will be tried again", message.id, thread.id)
            return False
        log.info("handover: question #%s from user %s copied to the coordinators' chat",
                 thread.id, user.id)
        return True

    async def _attachment(self, channel: str, file: InboundFile) -> Attachment | None:
        """A Telegram user's file by its file id; another channel's fetched to upload."""
        photo = file.kind == "photo"
        if channel == CHANNEL:
            return Attachment(file.name or file.kind, b"",
                              "image/jpeg" if photo else "application/octet-stream",
                              ref=file.ref)
        fetched = await self.notifier.fetch(channel, file.ref)
        if fetched is None:
            return None  # named in the text instead
        data, mime = fetched
        extension = mimetypes.guess_extension(mime) or ""
        return Attachment(file.name or f"{file.kind}{extension}", data,
                          "image/jpeg" if photo else mime)

    # ---- a thread closed ----------------------------------------------------------------

    async def closed(self, signal: handover.Closed) -> None:
        """Closed here or in a private chat: the "Close" buttons go, the chat is told."""
        async with self.sessionmaker() as db:
            copies = await handover.copies(db, signal.thread_id, self.chat_id)
            last = await handover.latest_copy(db, signal.thread_id, self.chat_id)
        for copy_id in copies:
            await self._request(EditMessageReplyMarkup(chat_id=self.chat_id,
                                                       message_id=copy_id, reply_markup=None))
        note = self.engine.compose("question_closed_note", None, thread_id=signal.thread_id,
                                   name=signal.by_name)
        await self.channel.render(self.group, self.chat_id, note, reply_to=last)

    async def _request(self, method: TelegramMethod[Any]) -> None:
        """Answer a press (no turn from the limiter) or edit a message (a turn)."""
        try:
            await self.channel.sender.call(
                method, limited=not isinstance(method, AnswerCallbackQuery))
        except SendError as error:
            log.warning("handover: %s not carried out: %s", type(method).__name__, error)

    # ---- files of Telegram users, for the flows (`Notifier.register_files`) -------------

    async def download(self, ref: str) -> tuple[bytes, str]:
        data = await self.bot.download(ref)
        return (data.read() if data is not None else b""), "application/octet-stream"
