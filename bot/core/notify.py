"""Messages the bot starts (reminders, notices): one sender per channel.

A channel that can reach users on its own (Telegram, WhatsApp) registers a sender;
the terminal cannot, so its users' reminders are skipped with that reason."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from enum import StrEnum

from bot.core.replies import Reply


class PushResult(StrEnum):
    SENT = "sent"
    UNREACHABLE = "unreachable"  # the user blocked the bot or cannot be reached
    NO_CHANNEL = "no_channel"  # this channel cannot start a conversation
    FAILED = "failed"  # a temporary failure: try again later


# (external id, replies, kind of message) -> result
Sender = Callable[[str, list[Reply], str], Awaitable[PushResult]]


class Notifier:
    def __init__(self) -> None:
        self._senders: dict[str, Sender] = {}

    def register(self, channel: str, sender: Sender) -> None:
        self._senders[channel] = sender

    async def push(self, channel: str, external_id: str, replies: list[Reply],
                   kind: str) -> PushResult:
        sender = self._senders.get(channel)
        if sender is None:
            return PushResult.NO_CHANNEL
        return await sender(external_id, replies, kind)
