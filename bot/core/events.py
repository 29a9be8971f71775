"""What a channel hands to the flows: a channel-neutral event from one user."""

from __future__ import annotations

from dataclasses import dataclass, fields
from enum import StrEnum

from bot.core.inbound import clean

# The longest text an event carries (a message on Telegram or WhatsApp is at most 4,096
# characters; a caption less); a button's payload (Telegram allows 64 bytes, WhatsApp
# 256 characters), and any other string: an id, a name, a phone number, a file's name.
TEXT_LIMIT = 4096
PAYLOAD_LIMIT = 256
FIELD_LIMIT = 256


def _cleaned(item: object, limits: dict[str, int]) -> None:
    """Every string field of a frozen dataclass `clean`ed, in place: whatever a channel
    passes on, no flow and no database ever sees NUL, a control character, a lone
    surrogate or an unbounded string."""
    for field in fields(item):  # type: ignore[arg-type]
        value = getattr(item, field.name)
        if type(value) is str:  # not the kinds and places, which are enums
            object.__setattr__(item, field.name,
                               clean(value, limits.get(field.name, FIELD_LIMIT)))


class EventKind(StrEnum):
    TEXT = "text"
    BUTTON = "button"
    COMMAND = "command"
    CONTACT = "contact"
    FILE = "file"  # a photo or a document (its caption in `text`), see `InboundFile`
    UNSUPPORTED = "unsupported"


class Place(StrEnum):
    """Where an event happened. The flows answer a coordinator in the coordinators'
    group chat (COORDINATOR_CHAT_ID, its chat id kept by the channel) with the same
    steps as in a private chat, in the group's language and without touching the
    coordinator's private conversation (no session is read or stored for it)."""

    PRIVATE = "private"  # the user's own chat with the bot
    COORDINATORS = "coordinators"  # the coordinators' group chat


@dataclass(frozen=True, slots=True)
class Identity:
    """Who sent an event: the channel and the user's id on it."""

    channel: str
    external_id: str


@dataclass(frozen=True, slots=True)
class InboundFile:
    """A photo or document a user sent: the channel's own reference to it (a Telegram
    file_id, a WhatsApp media id), so a flow can pass it on without downloading it."""

    kind: str  # photo, document
    ref: str
    name: str | None = None
    mime: str | None = None

    def __post_init__(self) -> None:
        _cleaned(self, {})


@dataclass(frozen=True, slots=True)
class Quoted:
    """The message an event replies to, in a group chat: its id on the platform, and
    who wrote it (None for the bot's own messages), so a flow can find what it belongs
    to (a question's copy, `handover_messages`) or whom it is about."""

    message_id: str
    author: Identity | None = None
    author_name: str | None = None

    def __post_init__(self) -> None:
        _cleaned(self, {})


@dataclass(frozen=True, slots=True)
class Event:
    identity: Identity
    kind: EventKind
    text: str = ""
    payload: str = ""
    command: str = ""
    args: str = ""
    language_hint: str | None = None
    display_name: str | None = None
    phone: str | None = None
    file: InboundFile | None = None
    place: Place = Place.PRIVATE
    # The platform's id of the message this event is (or whose button was pressed), and
    # the message it replies to: set in the coordinators' group chat.
    message_id: str | None = None
    reply_to: Quoted | None = None
    # `start` on a channel where it is also the word to opt in again after `stop`
    # (WhatsApp): the flow turns announcements back on.
    opt_in: bool = False
    # The platform's id of the update this event came in (a Telegram `update_id`): the
    # engine stores it with the step, so an update delivered again is not handled twice.
    update_id: str | None = None
    # Where the update stands in the order the platform sent the user's updates (a
    # Telegram `update_id`, which grows with every update of a bot): the engine keeps
    # the newest one that changed the user's session and runs no older one after it.
    sequence: int | None = None

    def __post_init__(self) -> None:
        _cleaned(self, {"text": TEXT_LIMIT, "args": TEXT_LIMIT, "payload": PAYLOAD_LIMIT})

    @classmethod
    def from_text(cls, identity: Identity, text: str, **extra: str | None) -> Event:
        """A typed line: `/cmd args` becomes a command, anything else text."""
        stripped = clean(text).strip()
        if stripped.startswith("/") and len(stripped) > 1:
            head, _, args = stripped[1:].partition(" ")
            command = head.split("@", 1)[0].lower()
            return cls(identity, EventKind.COMMAND, text=stripped, command=command,
                       args=args.strip(), **extra)  # type: ignore[arg-type]
        return cls(identity, EventKind.TEXT, text=stripped, **extra)  # type: ignore[arg-type]


@dataclass(frozen=True, slots=True)
class LanguageChosen:
    """A signal the engine publishes (`Engine.subscribe`) once a private chat's step is
    stored: the user chose or changed their language (`previous` is the one before, None
    the first time), or a user who has one started again (`previous == language`), or
    the user was forgotten (`language` None). `hint`: the language of the user's app, as
    the platform gave it. For a channel that shows words outside the conversation in
    the user's language (Telegram's command list)."""

    identity: Identity
    language: str | None
    previous: str | None
    hint: str | None = None
