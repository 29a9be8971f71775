"""A Telegram message as an event: the same for a private chat and the coordinators'
chat, apart from the fields the caller passes in."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from aiogram.types import Message

from bot.channels.telegram_events import message_event, quoted
from bot.core.events import EventKind, Identity, InboundFile, Place, Quoted

USER = {"id": 42, "is_bot": False, "first_name": "Aida", "language_code": "ru"}


def message(**extra: Any) -> Message:
    return Message.model_validate({"message_id": 7, "date": datetime(2027, 1, 1, tzinfo=UTC),
                                   "chat": {"id": 42, "type": "private"}, "from": USER,
                                   **extra})


def event_of(msg: Message, **fields: Any) -> Any:
    assert msg.from_user is not None
    return message_event(msg, msg.from_user, **fields)


def test_text_and_commands() -> None:
    event = event_of(message(text="  /close 12 "), language_hint="ru")
    assert (event.kind, event.command, event.args) == (EventKind.COMMAND, "close", "12")
    assert (event.identity, event.display_name, event.language_hint) == (
        Identity("telegram", "42"), "Aida", "ru")
    assert event.place is Place.PRIVATE and event.reply_to is None
    assert event_of(message(text="Сәлем")).kind is EventKind.TEXT


def test_files_contacts_and_the_rest() -> None:
    photo = event_of(message(caption="passport", photo=[
        {"file_id": "small", "file_unique_id": "s", "width": 90, "height": 90},
        {"file_id": "large", "file_unique_id": "l", "width": 900, "height": 900}]))
    assert (photo.kind, photo.text) == (EventKind.FILE, "passport")
    assert photo.file == InboundFile("photo", "large", mime="image/jpeg")
    document = event_of(message(document={"file_id": "doc", "file_unique_id": "d",
                                          "file_name": "a.pdf", "mime_type": "application/pdf"}))
    assert document.file == InboundFile("document", "doc", "a.pdf", "application/pdf")
    own = event_of(message(contact={"phone_number": "+77011234567", "first_name": "Aida",
                                    "user_id": 42}))
    assert (own.kind, own.phone) == (EventKind.CONTACT, "+77011234567")
    other = event_of(message(contact={"phone_number": "+77010000000", "first_name": "B",
                                      "user_id": 43}))
    assert other.kind is EventKind.UNSUPPORTED
    assert event_of(message(sticker={
        "file_id": "st", "file_unique_id": "st", "type": "regular", "width": 1, "height": 1,
        "is_animated": False, "is_video": False})).kind is EventKind.UNSUPPORTED


def test_the_coordinators_chat_adds_its_fields() -> None:
    original = {"message_id": 3, "date": datetime(2027, 1, 1, tzinfo=UTC),
                "chat": {"id": -100, "type": "supergroup"},
                "from": {"id": 9, "is_bot": True, "first_name": "Bot"}}
    msg = message(text="Answer", chat={"id": -100, "type": "supergroup"},
                  reply_to_message=original)
    reply_to = quoted(msg)
    assert reply_to == Quoted("3", None, "Bot")  # a bot's message has no author to act on
    event = event_of(msg, place=Place.COORDINATORS, message_id="7", reply_to=reply_to)
    assert (event.kind, event.text, event.place, event.message_id, event.reply_to) == (
        EventKind.TEXT, "Answer", Place.COORDINATORS, "7", reply_to)
    assert quoted(message(text="x")) is None
    person = dict(original, **{"from": USER})
    assert quoted(message(text="x", reply_to_message=person)) == Quoted(
        "3", Identity("telegram", "42"), "Aida")
