"""A Telegram message as a channel-neutral event, written once for the private chats
(bot/channels/telegram.py) and the coordinators' chat (bot/channels/telegram_desk.py)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from aiogram.types import Message, User

from bot.core.events import Event, EventKind, Identity, InboundFile, Quoted

CHANNEL = "telegram"


def message_event(message: Message, sender: User, **fields: Any) -> Event:
    """The event of `message` written by `sender`: a command or text, the sender's own
    contact, a photo or document (by file id, with the caption), else unsupported.
    `fields` are the event's fields only the caller knows: `language_hint` in a private
    chat; `place`, `message_id` and `reply_to` in the coordinators' chat."""
    identity = Identity(CHANNEL, str(sender.id))
    fields = {"display_name": sender.first_name, **fields}
    if message.text is not None:
        return replace(Event.from_text(identity, message.text), **fields)
    if message.contact is not None and message.contact.user_id == sender.id:
        return Event(identity, EventKind.CONTACT, phone=message.contact.phone_number,
                     **fields)
    file = inbound_file(message)
    if file is not None:
        return Event(identity, EventKind.FILE, text=message.caption or "", file=file,
                     **fields)
    return Event(identity, EventKind.UNSUPPORTED, **fields)


def inbound_file(message: Message) -> InboundFile | None:
    """A photo (its largest size) or a document, by file id; None for anything else."""
    if message.photo:
        return InboundFile("photo", message.photo[-1].file_id, mime="image/jpeg")
    document = message.document
    if document is not None:
        return InboundFile("document", document.file_id, document.file_name,
                           document.mime_type)
    return None


def quoted(message: Message) -> Quoted | None:
    """The message `message` replies to, with its author unless that is a bot."""
    replied = message.reply_to_message
    if replied is None:
        return None
    author = replied.from_user
    return Quoted(str(replied.message_id),
                  Identity(CHANNEL, str(author.id))
                  if author is not None and not author.is_bot else None,
                  author.first_name if author is not None else None)
