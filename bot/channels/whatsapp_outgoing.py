"""What the bot sends on WhatsApp, and what becomes of it.

- replies are rendered within WhatsApp's limits (`whatsapp_render`) and sent in order
  through the Graph client, at `INTERACTIVE` priority (broadcast messages at
  `BROADCAST`); a file is uploaded through the media endpoint first; a long list keeps
  its choices for its "more" row;
- every sent message gets a delivery record, in one transaction with the incoming
  message marked handled (and its inbox row done), and status webhooks move it on;
- messages the bot starts (`push`) outside the 24-hour customer service window, or
  refused as outside it (131047), go as the approved template of their kind.
"""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot import clock
from bot.channels import whatsapp_contacts as contacts
from bot.channels import whatsapp_inbox_queue as inbox_queue
from bot.channels import whatsapp_records as records
from bot.channels.whatsapp_api import GraphClient, MediaFile
from bot.channels.whatsapp_contacts import Address
from bot.channels.whatsapp_errors import ErrorKind, GraphError, MetaError, report
from bot.channels.whatsapp_render import ATTACHMENT_KEY, MORE_PREFIX, list_page, render
from bot.channels.whatsapp_templates import TEMPLATE_KINDS, template_kind, template_payload
from bot.channels.whatsapp_updates import Status
from bot.config import Settings
from bot.core import metrics
from bot.core.engine import Engine
from bot.core.events import Identity
from bot.core.i18n import Translations, Translator
from bot.core.inbound import whole_number
from bot.core.notify import Pushed, PushResult
from bot.core.ratelimit import BROADCAST, INTERACTIVE, PUSH
from bot.core.replies import Attachment, Choice, Reply
from bot.db.models import User
from bot.services import broadcasts, reminders

log = logging.getLogger(__name__)

CHANNEL = "whatsapp"
_MEDIA_TYPES = frozenset({
    "text/plain", "application/pdf", "image/png", "image/jpeg",
    "application/vnd.ms-excel", "application/msword", "application/vnd.ms-powerpoint",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "application/vnd.openxmlformats-officedocument.presentationml.presentation",
})


def upload_mime(mime: str) -> str:
    """WhatsApp takes documents of a few types only: other text files (.ics, .csv,
    .json) go up as text/plain, keeping their file name and extension."""
    if mime in _MEDIA_TYPES:
        return mime
    if mime.startswith("text/") or mime == "application/json":
        return "text/plain"
    return mime


class Outgoing:
    def __init__(self, engine: Engine, settings: Settings, translations: Translations,
                 client: GraphClient) -> None:
        self.engine = engine
        self.settings = settings
        self.translations = translations
        self.client = client
        self.sessionmaker: async_sessionmaker[AsyncSession] = engine.sessionmaker

    async def translator(self, identity: Identity) -> Translator:
        async with self.sessionmaker() as db:
            language = (await db.execute(select(User.language).where(
                User.channel == identity.channel, User.external_id == identity.external_id
            ))).scalar_one_or_none()
        return self.translations.get(language, self.settings.default_locale)

    # ---- replies ------------------------------------------------------------------------

    async def send_replies(self, identity: Identity, address: Address,
                           replies: list[Reply], kind: str = "reply",
                           text: str | None = None, done_key: str | None = None,
                           done_inbox: int | None = None,
                           forgotten_check: bool = False) -> list[str]:
        """Render and send replies in order; then record them (and mark the message
        `done_key` handled) in one transaction."""
        sent, _error = await self._send_all(identity, address, replies, INTERACTIVE)
        await self.record(identity.external_id, sent, kind=kind, text=text,
                          done_key=done_key, done_inbox=done_inbox,
                          forgotten_check=forgotten_check)
        return sent

    async def _send_all(self, identity: Identity, address: Address, replies: list[Reply],
                        priority: int) -> tuple[list[str], MetaError | None]:
        """Send in order until one fails: the ids sent, and the error that stopped the
        sending, if any."""
        sent: list[str] = []
        if not replies:
            return sent, None
        translator = await self.translator(identity)
        rendered = render(replies, translator)
        if rendered.menu is not None:
            # Kept before the list is sent, so that its "more" row always finds it.
            async with self.sessionmaker() as db, db.begin():
                await records.keep_menu(db, identity.external_id, rendered.menu)
        for payload in rendered.messages:
            wamid, error = await self._post(identity, address, payload, priority)
            if wamid is None:
                return sent, error
            sent.append(wamid)
        return sent, None

    async def more(self, identity: Identity, address: Address, payload: str,
                   done_key: str, done_inbox: int | None) -> bool:
        """The "more" row of a long list: the next page, if it is the current list."""
        token, _, page_text = payload[len(MORE_PREFIX):].partition(":")
        async with self.sessionmaker() as db:
            menu = await records.menu_for(db, identity.external_id, token)
        page = whole_number(page_text)
        if menu is None or page is None:
            return False
        translator = await self.translator(identity)
        wamid, _error = await self._post(identity, address,
                                         list_page(menu, page, translator),
                                         INTERACTIVE)
        await self.record(identity.external_id, [wamid] if wamid else [], done_key=done_key,
                          done_inbox=done_inbox)
        return True

    async def record(self, external_id: str, wamids: list[str], *, kind: str = "reply",
                     text: str | None = None, done_key: str | None = None,
                     done_inbox: int | None = None, forgotten_check: bool = False) -> None:
        """One transaction: the sent messages' delivery records, the message handled,
        and (for a delivery of one message) the inbox row done. With `forgotten_check`,
        a user whose row is gone (`/forgetme`) loses their WhatsApp records too."""
        if not wamids and done_key is None and done_inbox is None:
            return
        async with self.sessionmaker() as db, db.begin():
            if forgotten_check and await contacts.forgotten(db, external_id):
                wamids = []
            await records.add_deliveries(db, external_id, wamids, kind=kind, text=text,
                                         now=clock.now())
            if done_key is not None:
                await records.handled(db, done_key)
            if done_inbox is not None:
                await inbox_queue.finish(db, done_inbox)

    async def _post(self, identity: Identity, address: Address, payload: dict[str, Any],
                    priority: int) -> tuple[str | None, MetaError | None]:
        """Send one message (not yet recorded): its id, or None and the error.
        A file is uploaded through the media endpoint first."""
        try:
            attachment = payload.get(ATTACHMENT_KEY)
            if attachment is not None:
                payload = await self._with_media(payload, attachment, priority)
            wamid = await self.client.send_message({**address, **payload}, priority)
        except GraphError as error:
            report(error.error)
            if error.kind is ErrorKind.UNDELIVERABLE:
                await self.engine.mark_unreachable(identity)
            return None, error.error
        metrics.REPLIES.labels(CHANNEL).inc()
        return wamid, None

    async def _with_media(self, payload: dict[str, Any], attachment: Attachment,
                          priority: int) -> dict[str, Any]:
        media_id = await self.client.upload_media(MediaFile(
            attachment.data, upload_mime(attachment.mime), attachment.filename), priority)
        kind = payload["type"]
        media = {**payload[kind], "id": media_id}
        return {"type": kind, kind: media}

    # ---- messages the bot starts ----------------------------------------------------------

    async def in_window(self, external_id: str) -> bool:
        async with self.sessionmaker() as db:
            _, last = await contacts.recipient(db, external_id)
        return contacts.in_window(last)

    async def push(self, external_id: str, replies: list[Reply], kind: str,
                   priority: int = PUSH) -> Pushed:
        """A message the bot starts: normal messages inside the 24-hour window; outside
        it, or when the API answers 131047, the approved template of its kind
        (`template_kind`) with the replies' text. With the ids of what went out."""
        template = template_kind(kind)
        identity = Identity(CHANNEL, external_id)
        text = "\n\n".join(reply.text for reply in replies if reply.text.strip())
        async with self.sessionmaker() as db:
            address, last = await contacts.recipient(db, external_id)
        if not contacts.in_window(last):
            return await self.push_template(identity, template, text, priority)
        sent, error = await self._send_all(identity, address, replies, priority)
        await self.record(external_id, sent, kind=template, text=text)
        if error is None:
            return Pushed(PushResult.SENT, tuple(sent))
        if error.kind is ErrorKind.OUTSIDE_WINDOW and not sent:
            return await self.push_template(identity, template, text, priority)
        if error.kind is ErrorKind.UNDELIVERABLE:
            return Pushed(PushResult.UNREACHABLE)
        return Pushed(PushResult.FAILED)

    async def notify(self, external_id: str, text: str, *, kind: str = "notice",
                     choices: tuple[Choice, ...] = ()) -> PushResult:
        """`push` of one text (and buttons)."""
        reply = Reply(text, (choices,) if choices else ())
        return (await self.push(external_id, [reply], kind)).result

    async def push_template(self, identity: Identity, kind: str, text: str,
                            priority: int) -> Pushed:
        if not text:
            return Pushed(PushResult.FAILED)
        async with self.sessionmaker() as db:
            address, _ = await contacts.recipient(db, identity.external_id)
        translator = await self.translator(identity)
        payload = template_payload(self.settings, kind, translator.locale, text)
        wamid, error = await self._post(identity, address, payload, priority)
        if wamid is not None:
            await self.record(identity.external_id, [wamid], kind="template")
            return Pushed(PushResult.SENT, (wamid,))
        if error is not None and error.kind is ErrorKind.UNDELIVERABLE:
            return Pushed(PushResult.UNREACHABLE)
        return Pushed(PushResult.FAILED)

    # ---- statuses -------------------------------------------------------------------------

    async def on_status(self, inbox_id: int, status: Status) -> None:
        """What became of a sent message: its record moves on, announcements count it; a
        message the bot started that failed as outside the window goes again as its
        template; an undeliverable one marks the user unreachable."""
        key = f"s:{status.wamid}:{status.status}"
        resend = None
        async with self.sessionmaker() as db, db.begin():
            if not await records.first_time(db, key, inbox_id):
                return
            error = status.errors[0] if status.errors else None
            record = await records.update_delivery(db, status.wamid, status.status, error)
            await records.handled(db, key)
            external_id = record.external_id if record is not None else \
                await contacts.external_id_of(db, status.user_id, status.wa_id)
            # Announcements count their deliveries and reads by the same wamid; one of no
            # record resolves an announcement or a reminder whose sending outcome was lost
            # in a crash.
            recipient, at = (external_id if record is None else None), clock.now()
            await broadcasts.on_whatsapp_status(db, status.wamid, status.status,
                                                error.title if error is not None else None,
                                                recipient=recipient, now=at)
            if recipient is not None:
                await reminders.on_whatsapp_status(db, status.wamid, status.status,
                                                   recipient, at)
            if (record is not None and status.status == "failed" and error is not None
                    and error.kind is ErrorKind.OUTSIDE_WINDOW
                    and record.kind in TEMPLATE_KINDS and record.text):
                resend = (record.kind, record.text)
        for problem in status.errors:
            report(problem, f"a sent message (status in inbox row {inbox_id})")
        if status.status == "failed" and any(
                e.kind is ErrorKind.UNDELIVERABLE for e in status.errors):
            await self.engine.mark_unreachable(Identity(CHANNEL, external_id))
        if resend is not None:
            kind, text = resend
            await self.push_template(Identity(CHANNEL, external_id), kind, text,
                                     BROADCAST if kind == "broadcast" else PUSH)
