"""How a broadcast message goes out on each platform (`broadcasts.Platform`).

Telegram: through the one Telegram sender (bot/channels/telegram_send.py) and the
channel's shared `PriorityLimiter` at broadcast priority (replies to users go first),
at most one message per second to the same chat; a photo or document is uploaded once
and then sent by its `file_id`.
WhatsApp: the channel's `push` (templates outside the 24-hour window) at broadcast
priority through the phone number's `PriorityLimiter` (`WHATSAPP_RATE`, replies to
users first, a 130429 pausing every sender); the wamid is kept for the statuses.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiogram import Bot

from bot.channels.telegram_send import (
    GaveUp,
    Refused,
    TelegramFile,
    TelegramSender,
    Unreachable,
)
from bot.core.notify import STATUS_WAIT, PushResult
from bot.core.ratelimit import BROADCAST, PriorityLimiter
from bot.core.replies import Reply
from bot.db.models import DeliveryStatus
from bot.services.broadcasts import RETRY, Outcome

if TYPE_CHECKING:
    from bot.channels.whatsapp import WhatsAppChannel

PER_CHAT_INTERVAL = 1.0  # Telegram: at most one message per second to the same chat


class TelegramBroadcaster:
    status_wait = None  # Telegram cannot tell whether a message went out: sent again

    def __init__(self, bot: Bot, limiter: PriorityLimiter,
                 per_chat: float = PER_CHAT_INTERVAL, *, paid: bool = False) -> None:
        self.sender = TelegramSender(bot, limiter)
        self.per_chat = per_chat
        self.paid = paid  # TELEGRAM_PAID_BROADCAST: allow_paid_broadcast on each message
        # The broadcast's file once uploaded (by its key), sent by its file id after that.
        self._files: dict[str, TelegramFile] = {}

    async def send(self, external_id: str, reply: Reply, key: str) -> Outcome:
        try:
            sent = await self.sender.send(int(external_id), reply, file=self._files.get(key),
                                          priority=BROADCAST, spacing=self.per_chat,
                                          paid=self.paid)
        except Unreachable as error:
            return Outcome(DeliveryStatus.BLOCKED, error=str(error)[:300])
        except Refused as error:
            return Outcome(DeliveryStatus.FAILED, error=error.message[:300])
        except GaveUp as error:
            return Outcome(RETRY, error=str(error)[:300])
        except Exception as error:  # anything else: try again later
            return Outcome(RETRY, error=f"{type(error).__name__}: {error}"[:300])
        if sent.file is not None:
            self._files.setdefault(key, sent.file)
        return Outcome(DeliveryStatus.SENT, message_id=str(sent.message_ids[0]))


class WhatsAppBroadcaster:
    status_wait = STATUS_WAIT  # a message that went out has its status by then

    def __init__(self, channel: WhatsAppChannel) -> None:
        self.channel = channel

    async def send(self, external_id: str, reply: Reply, key: str) -> Outcome:
        pushed = await self.channel.push(external_id, [reply], "broadcast", priority=BROADCAST)
        result = pushed.result
        if result is PushResult.SENT:
            return Outcome(DeliveryStatus.SENT, message_id=pushed.first_id)
        if result is PushResult.UNREACHABLE:
            return Outcome(DeliveryStatus.BLOCKED, error="undeliverable")
        if result is PushResult.NO_CHANNEL:
            return Outcome(DeliveryStatus.SKIPPED, error="channel cannot start messages")
        return Outcome(RETRY, error="whatsapp error")
