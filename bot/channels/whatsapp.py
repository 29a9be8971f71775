"""WhatsApp through the Cloud API: webhook deliveries become events, replies messages.

- `GET /whatsapp/webhook`: Meta's verification handshake;
- `POST /whatsapp/webhook`: the `X-Hub-Signature-256` HMAC of the raw body is checked
  first (401 otherwise, nothing stored); a signed delivery is stored in
  `whatsapp_inbox` before Meta gets its 200, and processed afterwards by the inbox
  worker, which survives restarts and redeliveries (a message id and a status are
  handled once, `whatsapp_processed`);
- replies are rendered within WhatsApp's limits (`whatsapp_render`) and sent through
  the rate-limited client (`whatsapp_api`); every sent message gets a delivery record
  that status webhooks update;
- messages the bot starts (`notify`) outside the 24-hour customer service window, or
  refused with 131047, are sent as the approved template for their kind.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import logging
import re
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from aiohttp import web
from sqlalchemy import and_, delete, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.channels.whatsapp_api import (
    REENGAGEMENT,
    UNDELIVERABLE,
    GraphClient,
    GraphError,
    MediaFile,
)
from bot.channels.whatsapp_render import (
    ATTACHMENT_KEY,
    MORE_PREFIX,
    PagedMenu,
    cut_at_word,
    list_page,
    render,
)
from bot.channels.whatsapp_updates import ApiError, Incoming, Status, parse_delivery
from bot.config import Settings
from bot.core import metrics
from bot.core.engine import Engine
from bot.core.events import Event, EventKind, Identity, InboundFile
from bot.core.i18n import Translations, Translator
from bot.core.notify import PushResult
from bot.core.replies import Attachment, Choice, Reply
from bot.db.models import (
    User,
    WhatsAppContact,
    WhatsAppDelivery,
    WhatsAppInbox,
    WhatsAppMenu,
    WhatsAppProcessed,
    utcnow,
)
from bot.services import broadcasts

log = logging.getLogger(__name__)

CHANNEL = "whatsapp"
SIGNATURE_HEADER = "X-Hub-Signature-256"
WINDOW = timedelta(hours=24)
# Kept a little shorter than the window, so a message sent at its edge still arrives.
WINDOW_MARGIN = timedelta(minutes=5)

# Commands typed as words (WhatsApp has no bot commands), English, Kazakh, Russian.
COMMAND_WORDS: dict[str, str] = {
    "start": "start", "бастау": "start", "старт": "start",
    "menu": "menu", "мәзір": "menu", "мазир": "menu", "меню": "menu",
    "help": "help", "көмек": "help", "комек": "help", "помощь": "help",
    "language": "language", "lang": "language", "тіл": "language", "тил": "language",
    "язык": "language",
    "cancel": "cancel", "болдырмау": "cancel", "отмена": "cancel",
    # Announcements off (handlers/settings.py); `start` turns them back on (see _message).
    "stop": "stop", "стоп": "stop", "тоқтату": "stop",
}

# Country calling codes that pre-select a language for `start` (the language is still
# asked on first contact otherwise). +7 7xx is Kazakhstan, the rest of +7 is Russia.
_PHONE_LANGUAGES: tuple[tuple[str, str], ...] = (
    ("76", "kk"), ("77", "kk"), ("7", "ru"),
    ("86", "kk"), ("976", "kk"),  # Xinjiang and Bayan-Ölgii Kazakhs
    ("996", "ru"), ("998", "ru"), ("992", "ru"), ("993", "ru"), ("375", "ru"),
    ("374", "ru"), ("994", "ru"), ("995", "ru"), ("373", "ru"),
)

_STATUS_RANK = {"accepted": 0, "sent": 1, "delivered": 2, "read": 3, "failed": 4}
# Delivery kinds that the bot starts itself and that may be sent as templates.
TEMPLATE_KINDS = ("reminder", "broadcast", "notice")
TEMPLATE_LANGUAGES = {"kk": "kk", "ru": "ru", "en": "en"}
# Kinds of messages the bot starts (bot/services/reminders.py and others), by template.
_TEMPLATE_OF_KIND = {"before": "reminder", "reminder": "reminder",
                     "broadcast": "broadcast",
                     "changed": "notice", "promoted": "notice", "notice": "notice"}
_TEMPLATE_PARAMETER_LIMIT = 1000
_MEDIA_TYPES = frozenset({
    "text/plain", "application/pdf", "image/png", "image/jpeg",
    "application/vnd.ms-excel", "application/msword", "application/vnd.ms-powerpoint",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "application/vnd.openxmlformats-officedocument.presentationml.presentation",
})


def language_for_phone(wa_id: str | None) -> str | None:
    if not wa_id:
        return None
    digits = wa_id.lstrip("+")
    for prefix, language in _PHONE_LANGUAGES:
        if digits.startswith(prefix):
            return language
    return None


def command_word(text: str) -> str | None:
    word = text.strip().lower().strip(".!?")
    return COMMAND_WORDS.get(word)


def template_kind(kind: str) -> str:
    """The template (reminder, broadcast, notice) for a kind of message the bot starts."""
    if kind in _TEMPLATE_OF_KIND:
        return _TEMPLATE_OF_KIND[kind]
    return "broadcast" if "broadcast" in kind else "notice"


def upload_mime(mime: str) -> str:
    """WhatsApp takes documents of a few types only: other text files (.ics, .csv,
    .json) go up as text/plain, keeping their file name and extension."""
    if mime in _MEDIA_TYPES:
        return mime
    if mime.startswith("text/") or mime == "application/json":
        return "text/plain"
    return mime


def signature_ok(secret: str, body: bytes, header: str | None) -> bool:
    """`X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the raw body>`, compared in
    constant time. The raw bytes are what Meta signed (with non-ASCII escaped as
    `\\uXXXX`): never re-serialize before checking."""
    if not header or not header.startswith("sha256="):
        return False
    expected = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected.encode(), header[len("sha256="):].strip().encode())


def template_parameter(text: str) -> str:
    """Template parameters may not hold newlines, tabs or runs of spaces."""
    flat = re.sub(r"\s*\n\s*\n\s*", " · ", text.strip())
    flat = re.sub(r"\s+", " ", flat)
    return cut_at_word(flat, _TEMPLATE_PARAMETER_LIMIT)


class WhatsAppChannel:
    def __init__(self, engine: Engine, settings: Settings, translations: Translations,
                 *, client: GraphClient | None = None, workers: int = 8,
                 lease: timedelta = timedelta(seconds=60), poll_interval: float = 1.0) -> None:
        assert settings.whatsapp_enabled
        assert settings.whatsapp_token is not None
        assert settings.whatsapp_phone_number_id is not None
        self.engine = engine
        self.settings = settings
        self.translations = translations
        self.sessionmaker: async_sessionmaker[AsyncSession] = engine.sessionmaker
        self.client = client or GraphClient(
            settings.whatsapp_api_url, settings.whatsapp_api_version,
            settings.whatsapp_phone_number_id, settings.whatsapp_token.get_secret_value(),
            settings.whatsapp_rate,
        )
        self.workers = workers
        self.lease = lease
        self.poll_interval = poll_interval
        self._wake = asyncio.Event()
        self._stopping = False
        self._loop_task: asyncio.Task[None] | None = None
        self._running: set[asyncio.Task[None]] = set()
        self._slots = asyncio.Semaphore(workers)
        self._last_cleanup = 0.0
        self._pending: list[tuple[str, asyncio.Future[None]]] = []
        # Deliveries this process stored while its worker runs: claimed at insert and
        # handed over here, so the hot path needs no claiming query.
        self._queue: asyncio.Queue[tuple[int, str] | None] = asyncio.Queue()
        self._poller: asyncio.Task[None] | None = None
        # Inbox rows this process holds (queued or running): their lease is renewed.
        self._held: set[int] = set()
        self._flusher: asyncio.Task[None] | None = None

    # ---- start and stop -------------------------------------------------------

    async def start(self) -> None:
        self._stopping = False
        self._queue = asyncio.Queue()
        self._loop_task = asyncio.create_task(self._worker_loop(), name="whatsapp-inbox")
        self._poller = asyncio.create_task(self._poll_loop(), name="whatsapp-inbox-poll")
        log.info("whatsapp: inbox worker started")

    async def stop(self) -> None:
        self._stopping = True
        self._wake.set()
        self._queue.put_nowait(None)
        if self._poller is not None:
            self._poller.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._poller
            self._poller = None
        if self._loop_task is not None:
            try:
                await asyncio.wait_for(self._loop_task, 5)
            except (TimeoutError, asyncio.CancelledError):
                self._loop_task.cancel()
            self._loop_task = None
        if self._running:
            await asyncio.wait(self._running, timeout=10)
        await self.client.close()

    # ---- webhook ---------------------------------------------------------------

    async def verify(self, request: web.Request) -> web.Response:
        query = request.query
        expected = self.settings.whatsapp_verify_token
        given = query.get("hub.verify_token", "")
        if (
            query.get("hub.mode") == "subscribe"
            and expected is not None
            and hmac.compare_digest(given.encode(), expected.get_secret_value().encode())
        ):
            return web.Response(text=query.get("hub.challenge", ""))
        return web.Response(status=403, text="forbidden")

    async def webhook(self, request: web.Request) -> web.Response:
        body = await request.read()
        secret = self.settings.whatsapp_app_secret
        if secret is None or not signature_ok(
            secret.get_secret_value(), body, request.headers.get(SIGNATURE_HEADER)
        ):
            metrics.ERRORS.labels(CHANNEL, "signature").inc()
            return web.json_response({"ok": False, "error": "bad signature"}, status=401)
        try:
            parsed = json.loads(body)
        except (ValueError, UnicodeDecodeError):
            return web.json_response({"ok": False, "error": "bad body"}, status=400)
        if not isinstance(parsed, dict) or parsed.get("object") != "whatsapp_business_account":
            return web.json_response({"ok": True, "ignored": True})
        await self._store(body.decode())
        return web.json_response({"ok": True})

    async def _store(self, body: str) -> None:
        """Store a delivery durably. Deliveries arriving together share one transaction
        (group commit): a busy webhook costs one write per batch, not per POST."""
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._pending.append((body, future))
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush())
        await asyncio.shield(future)

    async def _flush(self) -> None:
        while self._pending:
            batch, self._pending = self._pending, []
            working = self._loop_task is not None and not self._stopping
            try:
                async with self.sessionmaker() as db, db.begin():
                    now = utcnow()
                    rows = [WhatsAppInbox(body=body, received_at=now,
                                          status="working" if working else "new",
                                          attempts=1 if working else 0,
                                          claimed_at=now if working else None)
                            for body, _ in batch]
                    db.add_all(rows)
                    await db.flush()
                    claimed = [(row.id, row.body) for row in rows]
            except Exception as error:
                for _, future in batch:
                    if not future.done():
                        future.set_exception(error)
                continue
            if working:
                for item in claimed:
                    self._hand_over(item)
            for _, future in batch:
                if not future.done():
                    future.set_result(None)

    # ---- the inbox worker ------------------------------------------------------------

    async def _worker_loop(self) -> None:
        """Runs the deliveries handed over by the webhook and by the poller."""
        while True:
            item = await self._queue.get()
            if item is None or self._stopping:
                return
            await self._slots.acquire()
            task = asyncio.create_task(self._process_row(*item))
            self._running.add(task)
            task.add_done_callback(self._finished)

    async def _poll_loop(self) -> None:
        """Claims what no worker holds: deliveries stored by a process that stopped or
        crashed before handling them, and rows whose lease ran out."""
        while not self._stopping:
            self._wake.clear()
            try:
                claimed = await self._claim(self.workers * 2)
            except Exception:
                log.exception("whatsapp: claiming from the inbox failed")
                claimed = []
            for item in claimed:
                self._hand_over(item)
            await self._renew_leases()
            if claimed and self._queue.qsize() <= self.workers:
                continue  # there may be more; otherwise let the queue shrink first
            await self._maybe_cleanup()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.poll_interval)

    def _hand_over(self, item: tuple[int, str]) -> None:
        self._held.add(item[0])
        self._queue.put_nowait(item)

    async def _renew_leases(self) -> None:
        """Rows held here stay claimed however long they wait or run (retries with
        backoff), so that no poller, here or in another process, takes them twice."""
        if not self._held:
            return
        try:
            async with self.sessionmaker() as db, db.begin():
                await db.execute(update(WhatsAppInbox)
                                 .where(WhatsAppInbox.id.in_(list(self._held)),
                                        WhatsAppInbox.status == "working")
                                 .values(claimed_at=utcnow()))
        except Exception:
            log.exception("whatsapp: renewing inbox leases failed")

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._running.discard(task)
        self._slots.release()

    async def drain(self, seconds: float = 10.0) -> None:
        """Process everything in the inbox now (tests, benchmarks, shutdown)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + seconds
        while loop.time() < deadline:
            claimed = await self._claim(self.workers * 2)
            if claimed:
                await asyncio.gather(*(self._process_row(i, b) for i, b in claimed))
                continue
            if self._running or not self._queue.empty():
                if self._running:
                    await asyncio.wait(set(self._running), timeout=deadline - loop.time())
                else:
                    await asyncio.sleep(0.01)
                continue
            return

    async def _claim(self, limit: int) -> list[tuple[int, str]]:
        now = utcnow()
        async with self.sessionmaker() as db, db.begin():
            ready = or_(
                WhatsAppInbox.status == "new",
                and_(WhatsAppInbox.status == "working",
                     WhatsAppInbox.claimed_at < now - self.lease),
            )
            ids = select(WhatsAppInbox.id).where(ready).order_by(WhatsAppInbox.id).limit(limit)
            if db.get_bind().dialect.name == "postgresql":
                ids = ids.with_for_update(skip_locked=True)
            result = await db.execute(
                update(WhatsAppInbox)
                .where(WhatsAppInbox.id.in_(ids.scalar_subquery()))
                .values(status="working", claimed_at=now, attempts=WhatsAppInbox.attempts + 1)
                .returning(WhatsAppInbox.id, WhatsAppInbox.body, WhatsAppInbox.attempts)
                .execution_options(synchronize_session=False)
            )
            rows = sorted(result.all())
            poisoned = [row[0] for row in rows if row[2] > 5]
            if poisoned:
                log.error("whatsapp: giving up on inbox rows %s after 5 attempts", poisoned)
                await db.execute(update(WhatsAppInbox).where(WhatsAppInbox.id.in_(poisoned))
                                 .values(status="failed"))
        return [(row[0], row[1]) for row in rows if row[2] <= 5]

    async def _process_row(self, inbox_id: int, body: str) -> None:
        try:
            await self._process_row_once(inbox_id, body)
        finally:
            self._held.discard(inbox_id)

    async def _process_row_once(self, inbox_id: int, body: str) -> None:
        try:
            finished = await self.process(inbox_id, json.loads(body))
        except Exception as error:
            # Left in `working`: claimed again when the lease ends.
            log.exception("whatsapp: processing inbox row %s failed", inbox_id)
            async with self.sessionmaker() as db, db.begin():
                await db.execute(update(WhatsAppInbox).where(WhatsAppInbox.id == inbox_id)
                                 .values(last_error=repr(error)[:500]))
            return
        if finished:
            return
        async with self.sessionmaker() as db, db.begin():
            await db.execute(update(WhatsAppInbox).where(WhatsAppInbox.id == inbox_id)
                             .values(status="done", last_error=None, body=""))

    async def process(self, inbox_id: int, body: dict[str, Any]) -> bool:
        """Handle one stored delivery; True if the inbox row was marked done already
        (a delivery of one message does so with its replies' records)."""
        delivery = parse_delivery(body)
        for error in delivery.errors:
            metrics.ERRORS.labels(CHANNEL, "webhook").inc()
            log.warning("whatsapp: webhook error %s: %s %s", error.code, error.title,
                        error.details)
        single = len(delivery.messages) == 1 and not delivery.statuses
        for message in delivery.messages:
            if await self._message(inbox_id, message, finish_inbox=single):
                return True
        for status in delivery.statuses:
            await self._status(inbox_id, status)
        return False

    async def _maybe_cleanup(self) -> None:
        loop = asyncio.get_running_loop()
        if loop.time() - self._last_cleanup < 3600:
            return
        self._last_cleanup = loop.time()
        try:
            await self.cleanup()
        except Exception:
            log.exception("whatsapp: cleanup failed")

    async def cleanup(self, keep: timedelta = timedelta(days=14)) -> None:
        """Forget handled deliveries and ids older than Meta redelivers (7 days)."""
        cutoff = utcnow() - keep
        async with self.sessionmaker() as db, db.begin():
            await db.execute(delete(WhatsAppInbox).where(
                WhatsAppInbox.status == "done", WhatsAppInbox.received_at < cutoff))
            await db.execute(delete(WhatsAppProcessed).where(
                WhatsAppProcessed.created_at < cutoff))

    # ---- dedupe and contacts ---------------------------------------------------------

    def _insert(self, db: AsyncSession) -> Any:
        return pg_insert if db.get_bind().dialect.name == "postgresql" else sqlite_insert

    async def _claim_key(self, db: AsyncSession, key: str, inbox_id: int) -> bool:
        """True the first time `key` is seen, and again for the same inbox row (a retry
        after a crash); False for a redelivery."""
        inserted = await db.execute(
            self._insert(db)(WhatsAppProcessed)
            .values(key=key, inbox_id=inbox_id, done=False, created_at=utcnow())
            .on_conflict_do_nothing()
            .returning(WhatsAppProcessed.key)
        )
        if inserted.scalar_one_or_none() is not None:
            return True
        row = await db.get(WhatsAppProcessed, key)
        return row is not None and row.inbox_id == inbox_id and not row.done

    async def _contact(self, db: AsyncSession, message: Incoming) -> WhatsAppContact:
        contact = None
        if message.user_id:
            contact = (await db.execute(select(WhatsAppContact).where(
                WhatsAppContact.user_id == message.user_id))).scalar_one_or_none()
        if contact is None and message.wa_id:
            contact = (await db.execute(select(WhatsAppContact).where(
                WhatsAppContact.wa_id == message.wa_id))).scalar_one_or_none()
            if contact is not None and contact.user_id and message.user_id \
                    and contact.user_id != message.user_id:
                # A recycled phone number: another person (a new number gets a new
                # BSUID, so the same person never shows up like this).
                contact.wa_id = None
                await db.flush()
                contact = None
        if contact is None:
            await db.execute(
                self._insert(db)(WhatsAppContact)
                .values(external_id=message.external_id, user_id=message.user_id,
                        wa_id=message.wa_id, profile_name=message.name,
                        last_inbound_at=message.timestamp)
                .on_conflict_do_nothing()
            )
            contact = await db.get(WhatsAppContact, message.external_id)
            if contact is None:  # pragma: no cover - a conflict on another column
                contact = (await db.execute(select(WhatsAppContact).where(or_(
                    WhatsAppContact.user_id == message.user_id,
                    WhatsAppContact.wa_id == message.wa_id)))).scalars().first()
            assert contact is not None
            return contact
        if message.user_id and contact.user_id is None:
            contact.user_id = message.user_id
        if message.wa_id and contact.wa_id != message.wa_id:
            contact.wa_id = message.wa_id
        if message.name:
            contact.profile_name = message.name
        if contact.last_inbound_at is None or _aware(contact.last_inbound_at) < message.timestamp:
            contact.last_inbound_at = message.timestamp
        return contact

    # ---- incoming messages -------------------------------------------------------------

    async def _message(self, inbox_id: int, message: Incoming, finish_inbox: bool = False) -> bool:
        """Handle one incoming message; True if the inbox row was marked done with it."""
        key = f"m:{message.wamid}"
        done_inbox = inbox_id if finish_inbox else None
        async with self.sessionmaker() as db, db.begin():
            if not await self._claim_key(db, key, inbox_id):
                log.debug("whatsapp: %s already handled", message.wamid)
                return False
            contact = await self._contact(db, message)
            external_id, wa_id, user_id = contact.external_id, contact.wa_id, contact.user_id
        for error in message.errors:
            log.warning("whatsapp: message %s from %s: error %s %s %s", message.wamid,
                        external_id, error.code, error.title, error.details)
        if message.type == "system":
            log.info("whatsapp: system message for %s ignored", external_id)
            await self._record(external_id, [], done_key=key, done_inbox=done_inbox)
            return finish_inbox
        identity = Identity(CHANNEL, external_id)
        address = _address(wa_id, user_id)
        if message.type == "button" and message.payload.startswith(MORE_PREFIX):
            if await self._more(identity, address, message.payload, done_key=key,
                                done_inbox=done_inbox):
                return finish_inbox
            message = replace(message, payload="wa:more")
        event = self._event(identity, message)
        if event.command == "start":  # the word `start` also turns announcements back on
            await broadcasts.resume_announcements(self.sessionmaker, identity)
        replies = await self.engine.handle(event)
        await self.send_replies(identity, address, replies, done_key=key, done_inbox=done_inbox,
                                forgotten_check=True)
        return finish_inbox

    def _event(self, identity: Identity, message: Incoming) -> Event:
        extra: dict[str, Any] = {
            "language_hint": language_for_phone(message.wa_id),
            "display_name": message.name,
        }
        if message.type == "text":
            command = command_word(message.text)
            if command is not None:
                return Event(identity, EventKind.COMMAND, text=message.text.strip(),
                             command=command, **extra)
            return Event.from_text(identity, message.text, **extra)
        if message.type == "button" and message.payload:
            return Event(identity, EventKind.BUTTON, text=message.text,
                         payload=message.payload, **extra)
        if message.type == "contact" and message.phone:
            return Event(identity, EventKind.CONTACT, phone=message.phone, **extra)
        if message.type in ("image", "document") and message.media_id:
            # Passed on by media id (questions to coordinators); elsewhere "unsupported".
            kind = "photo" if message.type == "image" else "document"
            return Event(identity, EventKind.FILE, text=message.text.strip(),
                         file=InboundFile(kind, message.media_id, message.filename), **extra)
        # image, audio, video, document, sticker, reaction, location, unsupported, ...
        return Event(identity, EventKind.UNSUPPORTED, **extra)

    async def _more(self, identity: Identity, address: dict[str, str], payload: str,
                    done_key: str, done_inbox: int | None) -> bool:
        """The "more" row of a long list: the next page, if it is the current list."""
        token, _, page_text = payload[len(MORE_PREFIX):].partition(":")
        async with self.sessionmaker() as db:
            menu = await db.get(WhatsAppMenu, identity.external_id)
        if menu is None or menu.token != token or not page_text.isdigit():
            return False
        paged = PagedMenu(menu.token, menu.body, [(c[0], c[1]) for c in menu.choices])
        translator = await self._translator(identity)
        wamid, _error = await self._post(identity, address,
                                         list_page(paged, int(page_text), translator))
        await self._record(identity.external_id, [wamid] if wamid else [], done_key=done_key,
                           done_inbox=done_inbox)
        return True

    # ---- statuses --------------------------------------------------------------------

    async def _status(self, inbox_id: int, status: Status) -> None:
        key = f"s:{status.wamid}:{status.status}"
        resend: WhatsAppDelivery | None = None
        async with self.sessionmaker() as db, db.begin():
            if not await self._claim_key(db, key, inbox_id):
                return
            record = await db.get(WhatsAppDelivery, status.wamid)
            error = status.errors[0] if status.errors else None
            # A message with no record (sent by something else on this number, or to a
            # user who asked to be forgotten) gets no new record: only the logs below.
            if record is not None and (
                _STATUS_RANK.get(status.status, 0) > _STATUS_RANK.get(record.status, 0)
            ):
                record.status = status.status
                record.updated_at = utcnow()
                if error is not None:
                    record.error_code = error.code
                    record.error_title = error.title[:255]
            await db.execute(update(WhatsAppProcessed).where(WhatsAppProcessed.key == key)
                             .values(done=True))
            # Announcements count their deliveries and reads by the same wamid.
            await broadcasts.on_whatsapp_status(db, status.wamid, status.status,
                                                error.title if error is not None else None)
            external_id = record.external_id if record is not None else \
                await self._external_id(db, status.user_id, status.wa_id)
            if (record is not None and status.status == "failed" and error is not None
                    and error.code == REENGAGEMENT and record.kind in TEMPLATE_KINDS
                    and record.text):
                resend = record
        for problem in status.errors:
            self._log_send_error(external_id, status.wamid, problem)
        if status.status == "failed" and any(e.code == UNDELIVERABLE for e in status.errors):
            await self.engine.mark_unreachable(Identity(CHANNEL, external_id))
        if resend is not None and resend.text:
            await self._push_template(Identity(CHANNEL, external_id), resend.kind, resend.text)

    @staticmethod
    def _log_send_error(external_id: str, wamid: str, error: ApiError) -> None:
        metrics.ERRORS.labels(CHANNEL, "delivery").inc()
        if error.code == UNDELIVERABLE:
            log.error("whatsapp: message %s to %s is undeliverable (131026): the user may "
                      "not be on WhatsApp or use an old version; %s", wamid, external_id,
                      error.details or error.title)
        elif error.code == REENGAGEMENT:
            log.warning("whatsapp: message %s to %s was outside the 24-hour window (131047)",
                        wamid, external_id)
        else:
            log.error("whatsapp: message %s to %s failed: %s %s %s", wamid, external_id,
                      error.code, error.title, error.details)

    async def _external_id(self, db: AsyncSession, user_id: str | None,
                           wa_id: str | None) -> str:
        for column, value in ((WhatsAppContact.user_id, user_id),
                              (WhatsAppContact.wa_id, wa_id)):
            if value:
                found = (await db.execute(select(WhatsAppContact.external_id)
                                          .where(column == value))).scalar_one_or_none()
                if found:
                    return str(found)
        return user_id or wa_id or "?"

    # ---- sending ------------------------------------------------------------------------

    async def _translator(self, identity: Identity) -> Translator:
        async with self.sessionmaker() as db:
            language = (await db.execute(select(User.language).where(
                User.channel == identity.channel, User.external_id == identity.external_id
            ))).scalar_one_or_none()
        return self.translations.get(language, self.settings.default_locale)

    async def send_replies(self, identity: Identity, address: dict[str, str],
                           replies: list[Reply], kind: str = "reply",
                           text: str | None = None, done_key: str | None = None,
                           done_inbox: int | None = None,
                           forgotten_check: bool = False) -> list[str]:
        """Render and send replies in order; then record them (and mark the message
        `done_key` handled) in one transaction."""
        sent, _error = await self._send_all(identity, address, replies)
        await self._record(identity.external_id, sent, kind=kind, text=text,
                           done_key=done_key, done_inbox=done_inbox,
                           forgotten_check=forgotten_check)
        return sent

    async def _send_all(self, identity: Identity, address: dict[str, str],
                        replies: list[Reply]) -> tuple[list[str], int | None]:
        """Send in order until one fails: the ids sent, and the error code that stopped
        the sending (0 for a failure without a code), if any."""
        sent: list[str] = []
        if not replies:
            return sent, None
        translator = await self._translator(identity)
        rendered = render(replies, translator)
        if rendered.menu is not None:
            await self._store_menu(identity.external_id, rendered.menu)
        for payload in rendered.messages:
            wamid, error = await self._post(identity, address, payload)
            if wamid is None:
                return sent, error or 0
            sent.append(wamid)
        return sent, None

    async def _record(self, external_id: str, wamids: list[str], *, kind: str = "reply",
                      text: str | None = None, done_key: str | None = None,
                      done_inbox: int | None = None, forgotten_check: bool = False) -> None:
        """One transaction: the sent messages' delivery records, the message handled,
        and (for a delivery of one message) the inbox row done. With `forgotten_check`,
        a user whose row is gone (`/forgetme`) loses their WhatsApp records too."""
        if not wamids and done_key is None and done_inbox is None:
            return
        now = utcnow()
        async with self.sessionmaker() as db, db.begin():
            if forgotten_check and (await db.execute(select(User.id).where(
                User.channel == CHANNEL, User.external_id == external_id
            ))).first() is None:
                await self._forget(db, external_id)
                wamids = []
            if wamids:
                await db.execute(
                    self._insert(db)(WhatsAppDelivery)
                    .values([{"wamid": wamid, "external_id": external_id, "kind": kind,
                              "status": "accepted", "text": text, "sent_at": now,
                              "updated_at": now} for wamid in wamids])
                    .on_conflict_do_nothing()
                )
            if done_key is not None:
                await db.execute(update(WhatsAppProcessed)
                                 .where(WhatsAppProcessed.key == done_key).values(done=True))
            if done_inbox is not None:
                await db.execute(update(WhatsAppInbox).where(WhatsAppInbox.id == done_inbox)
                                 .values(status="done", last_error=None, body=""))

    @staticmethod
    async def _forget(db: AsyncSession, external_id: str) -> None:
        """The user asked to be forgotten: their phone, name, window and messages go.
        (Handled inbox rows keep no bodies; ids of handled messages stay 14 days.)"""
        for model in (WhatsAppContact, WhatsAppDelivery, WhatsAppMenu):
            await db.execute(delete(model).where(model.external_id == external_id))
        log.info("whatsapp: forgot %s", external_id)

    async def _store_menu(self, external_id: str, menu: PagedMenu) -> None:
        """Kept before the list is sent, so that its "more" row always finds it."""
        async with self.sessionmaker() as db, db.begin():
            row = await db.get(WhatsAppMenu, external_id)
            choices = [list(choice) for choice in menu.choices]
            if row is None:
                db.add(WhatsAppMenu(external_id=external_id, token=menu.token, body=menu.body,
                                    choices=choices, created_at=utcnow()))
            else:
                row.token, row.body, row.choices, row.created_at = (
                    menu.token, menu.body, choices, utcnow())

    async def _post(self, identity: Identity, address: dict[str, str],
                    payload: dict[str, Any]) -> tuple[str | None, int | None]:
        """Send one message (not yet recorded): its id, or None and the error code.
        A file is uploaded through the media endpoint first."""
        try:
            attachment = payload.get(ATTACHMENT_KEY)
            if attachment is not None:
                payload = await self._with_media(payload, attachment)
            wamid = await self.client.send_message({**address, **payload})
        except GraphError as error:
            problem = ApiError(error.code, error.title, error.details)
            self._log_send_error(identity.external_id, "-", problem)
            if error.code == UNDELIVERABLE:
                await self.engine.mark_unreachable(identity)
            return None, error.code
        metrics.REPLIES.labels(CHANNEL).inc()
        return wamid, None

    async def _with_media(self, payload: dict[str, Any],
                          attachment: Attachment) -> dict[str, Any]:
        media_id = await self.client.upload_media(MediaFile(
            attachment.data, upload_mime(attachment.mime), attachment.filename))
        kind = payload["type"]
        media = {**payload[kind], "id": media_id}
        return {"type": kind, kind: media}

    # ---- messages the bot starts ---------------------------------------------------------

    async def _recipient(self, external_id: str) -> tuple[dict[str, str], datetime | None]:
        async with self.sessionmaker() as db:
            contact = await db.get(WhatsAppContact, external_id)
        if contact is None:
            return {"to": external_id}, None
        last = _aware(contact.last_inbound_at) if contact.last_inbound_at else None
        return _address(contact.wa_id, contact.user_id), last

    async def in_window(self, external_id: str) -> bool:
        _, last = await self._recipient(external_id)
        return last is not None and utcnow() - last < WINDOW - WINDOW_MARGIN

    async def push(self, external_id: str, replies: list[Reply], kind: str) -> PushResult:
        """A message the bot starts (the `Notifier` sender): normal messages inside the
        24-hour window; outside it, or when the API answers 131047, the approved
        template of its kind (`template_kind`) with the replies' text."""
        return (await self.push_with_id(external_id, replies, kind))[0]

    async def push_with_id(self, external_id: str, replies: list[Reply],
                           kind: str) -> tuple[PushResult, str | None]:
        """`push`, also returning the first message's wamid (broadcasts keep it)."""
        template = template_kind(kind)
        identity = Identity(CHANNEL, external_id)
        text = "\n\n".join(reply.text for reply in replies if reply.text.strip())
        address, last = await self._recipient(external_id)
        if last is None or utcnow() - last >= WINDOW - WINDOW_MARGIN:
            return await self._push_template_id(identity, template, text)
        sent, error = await self._send_all(identity, address, replies)
        await self._record(external_id, sent, kind=template, text=text)
        if error is None:
            return PushResult.SENT, sent[0] if sent else None
        if error == REENGAGEMENT and not sent:
            return await self._push_template_id(identity, template, text)
        if error == UNDELIVERABLE:
            return PushResult.UNREACHABLE, None
        return PushResult.FAILED, None

    async def notify(self, external_id: str, text: str, *, kind: str = "notice",
                     choices: tuple[Choice, ...] = ()) -> PushResult:
        """`push` of one text (and buttons)."""
        return await self.push(external_id, [Reply(text, (choices,) if choices else ())],
                               kind)

    async def _push_template(self, identity: Identity, kind: str, text: str) -> PushResult:
        return (await self._push_template_id(identity, kind, text))[0]

    async def _push_template_id(self, identity: Identity, kind: str,
                                text: str) -> tuple[PushResult, str | None]:
        if not text:
            return PushResult.FAILED, None
        wamid, error = await self._send_template(identity, kind, text)
        if wamid is not None:
            return PushResult.SENT, wamid
        return (PushResult.UNREACHABLE if error == UNDELIVERABLE else PushResult.FAILED), None

    def template_payload(self, kind: str, language: str, text: str) -> dict[str, Any]:
        name = {
            "reminder": self.settings.whatsapp_template_reminder,
            "broadcast": self.settings.whatsapp_template_broadcast,
            "notice": self.settings.whatsapp_template_notice,
        }[kind]
        return {
            "type": "template",
            "template": {
                "name": name,
                "language": {"code": TEMPLATE_LANGUAGES.get(language, "en")},
                "components": [
                    {"type": "body",
                     "parameters": [{"type": "text", "text": template_parameter(text)}]},
                    {"type": "button", "sub_type": "quick_reply", "index": "0",
                     "parameters": [{"type": "payload", "payload": "menu"}]},
                ],
            },
        }

    async def _send_template(self, identity: Identity, kind: str,
                             text: str) -> tuple[str | None, int | None]:
        address, _ = await self._recipient(identity.external_id)
        translator = await self._translator(identity)
        payload = self.template_payload(kind, translator.locale, text)
        wamid, error = await self._post(identity, address, payload)
        if wamid is not None:
            await self._record(identity.external_id, [wamid], kind="template")
        return wamid, error


def _address(wa_id: str | None, user_id: str | None) -> dict[str, str]:
    """Whom to send to: the phone number when known, else the business-scoped user id."""
    if wa_id:
        return {"recipient_type": "individual", "to": wa_id}
    return {"recipient_type": "individual", "recipient": user_id or ""}


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


async def unconfigured_post(_request: web.Request) -> web.Response:
    return web.json_response({"ok": False, "error": "whatsapp is not configured"}, status=401)


async def unconfigured_get(_request: web.Request) -> web.Response:
    return web.Response(status=403, text="whatsapp is not configured")


async def export_for(db: AsyncSession, user_id: int) -> dict[str, Any] | None:
    """What the WhatsApp channel stores about a user, for `/mydata` (an exporter of
    `bot.services.privacy.EXPORTERS`)."""
    user = await db.get(User, user_id)
    if user is None or user.channel != CHANNEL:
        return None
    contact = await db.get(WhatsAppContact, user.external_id)
    deliveries = (await db.execute(
        select(WhatsAppDelivery).where(WhatsAppDelivery.external_id == user.external_id)
        .order_by(WhatsAppDelivery.sent_at)
    )).scalars().all()
    return {
        "business_scoped_user_id": contact.user_id if contact else None,
        "phone": contact.wa_id if contact else None,
        "profile_name": contact.profile_name if contact else None,
        "last_message_at": _aware(contact.last_inbound_at).isoformat()
        if contact and contact.last_inbound_at else None,
        "messages_sent_to_you": [
            {"kind": d.kind, "status": d.status, "sent": _aware(d.sent_at).isoformat(),
             "error": d.error_code}
            for d in deliveries
        ],
    }
