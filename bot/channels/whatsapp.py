"""WhatsApp through the Cloud API: webhook deliveries become events, replies messages.

`WhatsAppChannel` is what the runner and the web app use; its parts:

- `whatsapp_inbox`: the webhook (verification, signature, stored before the 200) and
  the inbox worker and poller; `whatsapp_inbox_queue`: the inbox rows on the durable
  queue (`bot.db.queue`);
- `whatsapp_updates`: Meta's payloads as typed records; `whatsapp_events`: incoming
  messages as events (command words, language hints);
- `whatsapp_contacts`: users (BSUIDs and phone numbers), the 24-hour window, the data
  export; `whatsapp_records`: handled-once keys, delivery records, paged menus;
- `whatsapp_outgoing`: replies, media, messages the bot starts and their templates
  (`whatsapp_templates`), statuses; `whatsapp_render`: WhatsApp's limits;
- `whatsapp_api`: the Graph client, paced by the number's `PriorityLimiter`;
  `whatsapp_errors`: Meta's errors, read and classified in one place.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import Any

from aiohttp import web

from bot.channels import whatsapp_contacts as contacts
from bot.channels import whatsapp_records as records
from bot.channels.whatsapp_api import GraphClient
from bot.channels.whatsapp_contacts import Address
from bot.channels.whatsapp_events import event_for
from bot.channels.whatsapp_inbox import Inbox
from bot.channels.whatsapp_outgoing import Outgoing
from bot.channels.whatsapp_render import MORE_PREFIX
from bot.channels.whatsapp_updates import Incoming, parse_delivery
from bot.config import Settings
from bot.core import metrics
from bot.core.engine import Engine
from bot.core.events import Identity
from bot.core.i18n import Translations
from bot.core.notify import Pushed, PushResult
from bot.core.ratelimit import PUSH, PriorityLimiter, SharedBudget
from bot.core.replies import Choice, Reply

log = logging.getLogger(__name__)

CHANNEL = "whatsapp"


class WhatsAppChannel:
    def __init__(self, engine: Engine, settings: Settings, translations: Translations,
                 *, client: GraphClient | None = None, workers: int = 8,
                 poll_interval: float = 1.0, budget: SharedBudget | None = None) -> None:
        assert settings.whatsapp_enabled
        assert settings.whatsapp_token is not None
        assert settings.whatsapp_phone_number_id is not None
        self.engine = engine
        self.settings = settings
        # One limiter for the phone number: replies go ahead of broadcast messages, a
        # throttling answer (130429) pauses both. As on Telegram, a small burst (a fifth
        # of a second's worth) keeps any second near the rate. `budget`: the number's
        # limit shared with the other processes.
        self.client = client or GraphClient(
            settings.whatsapp_api_url, settings.whatsapp_api_version,
            settings.whatsapp_phone_number_id, settings.whatsapp_token.get_secret_value(),
            PriorityLimiter(settings.whatsapp_rate, burst=settings.whatsapp_rate / 5,
                            shared=budget, key=f"whatsapp:{settings.whatsapp_phone_number_id}"),
        )
        self.outgoing = Outgoing(engine, settings, translations, self.client)
        self.inbox = Inbox(engine.sessionmaker, self.process,
                           app_secret=settings.whatsapp_app_secret,
                           verify_token=settings.whatsapp_verify_token,
                           workers=workers, poll_interval=poll_interval)

    @property
    def limiter(self) -> PriorityLimiter:
        """The phone number's limiter, shared by everything that sends."""
        return self.client.limiter

    # ---- start and stop, the webhook ------------------------------------------------------

    async def start(self) -> None:
        await self.inbox.start()

    async def stop(self) -> None:
        await self.inbox.stop()
        await self.client.close()

    async def verify(self, request: web.Request) -> web.Response:
        return await self.inbox.verify(request)

    async def webhook(self, request: web.Request) -> web.Response:
        return await self.inbox.webhook(request)

    async def drain(self, seconds: float = 10.0) -> None:
        """Process everything in the inbox now (tests, benchmarks, shutdown)."""
        await self.inbox.drain(seconds)

    # ---- a stored delivery ----------------------------------------------------------------

    async def process(self, inbox_id: int, body: dict[str, Any]) -> bool:
        """Handle one stored delivery; True if the inbox row was marked done already
        (a delivery of one message does so with its replies' records)."""
        delivery = parse_delivery(body)
        for error in delivery.errors:
            metrics.ERRORS.labels(CHANNEL, "webhook").inc()
            log.warning("whatsapp: webhook error %s", error)
        for reason in delivery.skipped:
            metrics.ERRORS.labels(CHANNEL, "malformed").inc()
            log.warning("whatsapp: inbox row %s: a message skipped: %s", inbox_id, reason)
        single = len(delivery.messages) == 1 and not delivery.statuses
        failed: list[BaseException] = []
        for message in delivery.messages:
            # One message that fails holds back none of the others; the delivery is
            # tried again (the messages handled already are not) while any failed.
            try:
                if await self._message(inbox_id, message, finish_inbox=single):
                    return True
            except Exception as error:
                log.warning("whatsapp: inbox row %s: message %s failed: %r", inbox_id,
                            message.wamid, error)
                failed.append(error)
        for status in delivery.statuses:
            await self.outgoing.on_status(inbox_id, status)
        if failed:
            raise failed[0]
        return False

    async def _message(self, inbox_id: int, message: Incoming, finish_inbox: bool = False) -> bool:
        """Handle one incoming message; True if the inbox row was marked done with it."""
        key = f"m:{message.wamid}"
        done_inbox = inbox_id if finish_inbox else None
        async with self.engine.sessionmaker() as db, db.begin():
            if not await records.first_time(db, key, inbox_id):
                log.debug("whatsapp: a message of inbox row %s already handled", inbox_id)
                return False
            contact = await contacts.upsert(db, message)
            external_id, wa_id, user_id = contact.external_id, contact.wa_id, contact.user_id
        for error in message.errors:
            log.warning("whatsapp: a message of inbox row %s came with error %s", inbox_id,
                        error)
        if message.type == "system":
            log.info("whatsapp: a system message ignored")
            await self.outgoing.record(external_id, [], done_key=key, done_inbox=done_inbox)
            return finish_inbox
        identity = Identity(CHANNEL, external_id)
        address = contacts.address(wa_id, user_id)
        if message.type == "button" and message.payload.startswith(MORE_PREFIX):
            if await self.outgoing.more(identity, address, message.payload, done_key=key,
                                        done_inbox=done_inbox):
                return finish_inbox
            message = replace(message, payload="wa:more")
        replies = await self.engine.handle(event_for(identity, message))
        await self.outgoing.send_replies(identity, address, replies, done_key=key,
                                         done_inbox=done_inbox, forgotten_check=True)
        return finish_inbox

    # ---- sending --------------------------------------------------------------------------

    async def send_replies(self, identity: Identity, address: Address,
                           replies: list[Reply], kind: str = "reply",
                           text: str | None = None) -> list[str]:
        """Render and send replies in order, and record them."""
        return await self.outgoing.send_replies(identity, address, replies, kind, text)

    async def in_window(self, external_id: str) -> bool:
        return await self.outgoing.in_window(external_id)

    async def push(self, external_id: str, replies: list[Reply], kind: str, *,
                   priority: int = PUSH) -> Pushed:
        """A message the bot starts (the `Notifier` sender): normal messages inside the
        24-hour window; outside it, or when the API answers 131047, the approved
        template of its kind with the replies' text. With the wamids of what went out
        (reminders and broadcasts keep the first; broadcasts go at `BROADCAST`
        priority, behind replies to users)."""
        return await self.outgoing.push(external_id, replies, kind, priority)

    async def notify(self, external_id: str, text: str, *, kind: str = "notice",
                     choices: tuple[Choice, ...] = ()) -> PushResult:
        """`push` of one text (and buttons)."""
        return await self.outgoing.notify(external_id, text, kind=kind, choices=choices)
