"""Messages the bot starts (reminders, notices): one sender per channel; and the files
users sent: one fetcher per channel.

A channel that can reach users on its own (Telegram, WhatsApp) registers a sender;
the terminal cannot, so its users' reminders are skipped with that reason. A channel
whose users send files registers a fetcher, so a file can be passed to another channel
(a WhatsApp user's photo to the coordinators' chat, a coordinator's document to a
WhatsApp user).

A sender reports the platform's ids of the messages that went out (`Pushed`), and a
channel registered with a `status_wait` is one whose platform tells, within that time,
that a message went out (WhatsApp's status webhook): a message whose outcome was lost
in a crash is resolved by it rather than sent twice (`bot.db.queue.retaken`)."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum

from bot.core.replies import Reply

log = logging.getLogger(__name__)


class PushResult(StrEnum):
    SENT = "sent"
    UNREACHABLE = "unreachable"  # the user blocked the bot or cannot be reached
    NO_CHANNEL = "no_channel"  # this channel cannot start a conversation
    FAILED = "failed"  # a temporary failure: try again later


# A WhatsApp message accepted by Meta gets its "sent" status within seconds: one whose
# outcome was lost, with no status this long after its intent, never went out.
STATUS_WAIT = timedelta(minutes=2)


@dataclass(frozen=True, slots=True)
class Pushed:
    """What became of a message the bot started: the result, and the platform's ids of
    the messages that went out (a reminder keeps the first, to be told of it)."""

    result: PushResult
    message_ids: tuple[str, ...] = ()

    @property
    def first_id(self) -> str | None:
        return self.message_ids[0] if self.message_ids else None


# (external id, replies, kind of message) -> what became of it
Sender = Callable[[str, list[Reply], str], Awaitable[Pushed]]
# the channel's reference to a file (a Telegram file_id, a WhatsApp media id)
#   -> its bytes and MIME type
Fetcher = Callable[[str], Awaitable[tuple[bytes, str]]]


class Notifier:
    def __init__(self) -> None:
        self._senders: dict[str, Sender] = {}
        self._waits: dict[str, timedelta] = {}
        self._fetchers: dict[str, Fetcher] = {}

    def register(self, channel: str, sender: Sender,
                 status_wait: timedelta | None = None) -> None:
        """`status_wait`: how long the platform takes to tell that a message went out;
        None: it cannot tell (Telegram)."""
        self._senders[channel] = sender
        if status_wait is not None:
            self._waits[channel] = status_wait

    def status_wait(self, channel: str) -> timedelta | None:
        return self._waits.get(channel)

    def register_files(self, channel: str, fetcher: Fetcher) -> None:
        self._fetchers[channel] = fetcher

    async def push(self, channel: str, external_id: str, replies: list[Reply],
                   kind: str) -> Pushed:
        sender = self._senders.get(channel)
        if sender is None:
            return Pushed(PushResult.NO_CHANNEL)
        return await sender(external_id, replies, kind)

    async def fetch(self, channel: str, ref: str) -> tuple[bytes, str] | None:
        """A file a user of `channel` sent; None when it cannot be fetched."""
        fetcher = self._fetchers.get(channel)
        if fetcher is None:
            return None
        try:
            return await fetcher(ref)
        except Exception:
            log.exception("could not fetch a file of a %s user", channel)
            return None
