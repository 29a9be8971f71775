"""Messages the bot starts (reminders, notices): one sender per channel; and the files
users sent: one fetcher per channel.

A channel that can reach users on its own (Telegram, WhatsApp) registers a sender;
the terminal cannot, so its users' reminders are skipped with that reason. A channel
whose users send files registers a fetcher, so a file can be passed to another channel
(a WhatsApp user's photo to the coordinators' chat, a coordinator's document to a
WhatsApp user)."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from enum import StrEnum

from bot.core.replies import Reply

log = logging.getLogger(__name__)


class PushResult(StrEnum):
    SENT = "sent"
    UNREACHABLE = "unreachable"  # the user blocked the bot or cannot be reached
    NO_CHANNEL = "no_channel"  # this channel cannot start a conversation
    FAILED = "failed"  # a temporary failure: try again later


# (external id, replies, kind of message) -> result
Sender = Callable[[str, list[Reply], str], Awaitable[PushResult]]
# the channel's reference to a file (a Telegram file_id, a WhatsApp media id)
#   -> its bytes and MIME type
Fetcher = Callable[[str], Awaitable[tuple[bytes, str]]]


class Notifier:
    def __init__(self) -> None:
        self._senders: dict[str, Sender] = {}
        self._fetchers: dict[str, Fetcher] = {}

    def register(self, channel: str, sender: Sender) -> None:
        self._senders[channel] = sender

    def register_files(self, channel: str, fetcher: Fetcher) -> None:
        self._fetchers[channel] = fetcher

    async def push(self, channel: str, external_id: str, replies: list[Reply],
                   kind: str) -> PushResult:
        sender = self._senders.get(channel)
        if sender is None:
            return PushResult.NO_CHANNEL
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
