"""Announcements (broadcasts): the audience, the delivery rows, the sender.

- The audience is a set of filters (`Audience`): languages, channels, countries of
  residence, one forum's attendees (registered, waiting, checked in), the latest
  eligibility verdict; no filter is everyone. Users who turned announcements off or who
  blocked the bot are never counted or sent to.
- Starting a broadcast writes one `BroadcastDelivery` row per recipient with one
  `INSERT … SELECT` inside the database: the audience is never loaded into memory.
- The delivery rows are a durable queue (`bot.db.queue`): the sender claims due rows
  in batches, holds them under a lease it renews while they wait for the rate limiter,
  sends them through one rate limiter per platform, and writes each result as soon as
  it has it. After a crash only rows left `sending` are taken again, once their lease
  has expired.
- The intent (`attempted_at`) is written before a message goes to its platform (and
  its turn from the rate limiter), the result (the message id) after: the queue's
  `Intents` and `retaken` (`bot.db.queue`), which reminders use too. A row taken
  again with an intent and no result may have gone out. On WhatsApp it goes out at
  most once: the status webhook of the message names the recipient and resolves the
  row (`on_whatsapp_status`); only when no status came within the platform's
  `status_wait` (`bot.core.notify.STATUS_WAIT`) is it sent again. Telegram cannot
  tell: an announcement is sent again (never lost), and the log says it may have gone
  twice; at most the requests in flight at the crash do.
- 403 marks the user unreachable and the row `blocked`; other errors retry with
  backoff, then the row is `failed` with the reason (`last_error`). WhatsApp's status
  webhook moves a row on to `delivered` and `read` (`on_whatsapp_status`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any, Final, Literal, Protocol, TypedDict, cast

from sqlalchemy import (
    ColumnElement,
    and_,
    bindparam,
    exists,
    func,
    insert,
    literal,
    or_,
    select,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot import LANGUAGES, LOCALES
from bot.clock import iso, now
from bot.core import scripts
from bot.core.replies import Attachment, Choice, Reply
from bot.db.dialect import session_row, skip_locked
from bot.db.models import (
    ERROR_LENGTH,
    ID_TYPE,
    Broadcast,
    BroadcastDelivery,
    BroadcastStatus,
    CheckStatus,
    DeliveryStatus,
    EligibilityCheck,
    Registration,
    RegistrationStatus,
    User,
)
from bot.db.paging import Page, fetch_page
from bot.db.queue import LEASE, Consumer, Intents, Queue, Retaken, retaken
from bot.services import audit

log = logging.getLogger(__name__)

# Channels that can start a conversation; the terminal cannot.
CHANNELS = ("telegram", "whatsapp")
FORUM_STATUSES = ("registered", "waiting", "checked_in")
VERDICTS = ("eligible", "needs_checking", "not_eligible")
ALL = "*"  # the key of one text (or button label) for every language
# In `Broadcast.audience`: the coordinator's photo or document (`AudienceRecord`).
FILE_KEY = "_file"
TEXT_LIMIT = 4096
ATTACHMENT_LIMIT = 10 * 1024 * 1024

D = BroadcastDelivery
DS = DeliveryStatus


@dataclass(frozen=True)
class Scheduled:
    """Signal (`ctx.emit`): a broadcast was scheduled; the runner wakes the sender."""

    broadcast_id: int


class BroadcastError(Exception):
    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


# ---- the audience -------------------------------------------------------------------------


class Audience(TypedDict, total=False):
    """Who gets a broadcast: each filter given narrows it; none is everyone."""

    languages: list[str]  # LANGUAGES
    channels: list[str]  # CHANNELS
    countries: list[str]  # ISO codes of the country of residence
    forum: int  # one forum's attendees...
    forum_statuses: list[str]  # ...in these of FORUM_STATUSES (none: all of them)
    verdicts: list[str]  # the latest eligibility verdict, VERDICTS


class BroadcastFile(TypedDict):
    """The coordinator's photo or document as the channel's file reference; the sender
    fetches its bytes once (`Sender.fetch_file`) before sending."""

    ref: str
    kind: str  # photo, document


class AudienceRecord(Audience, total=False):
    """What `Broadcast.audience` holds: the filters and two records kept beside them."""

    _file: BroadcastFile
    # Users the filters matched who were not sent to, counted when sending started:
    # {"opted_out": n, "unreachable": n}.
    _excluded: dict[str, int]


def audience_of(broadcast: Broadcast) -> AudienceRecord:
    """A copy of the broadcast's stored audience, to read or to change and store back."""
    return cast(AudienceRecord, dict(broadcast.audience or {}))


def filters(record: AudienceRecord) -> Audience:
    """The filters alone, without the records kept beside them."""
    audience: Audience = {}
    for key in Audience.__required_keys__ | Audience.__optional_keys__:
        if key in record:
            audience[key] = record[key]  # type: ignore[literal-required]
    return audience


def _latest_verdict() -> Any:
    return (select(EligibilityCheck.verdict)
            .where(EligibilityCheck.user_id == User.id, EligibilityCheck.status == CheckStatus.DONE)
            .order_by(EligibilityCheck.completed_at.desc(), EligibilityCheck.id.desc())
            .limit(1).correlate(User).scalar_subquery())


def _conditions(audience: Audience, default_language: str) -> list[Any]:
    """The audience's filters as SQL conditions on `users` (the opt-out not included)."""
    language = func.coalesce(User.language, default_language)
    conditions: list[Any] = [User.channel.in_(audience.get("channels") or CHANNELS)]
    if audience.get("languages"):
        # Kazakh is read in each of its scripts: its readers of Latin and tote too.
        chosen = audience["languages"]
        conditions.append(language.in_(
            [code for code in LOCALES if scripts.source(code) in chosen]))
    if audience.get("countries"):
        conditions.append(User.country.in_(audience["countries"]))
    if audience.get("forum"):
        statuses = audience.get("forum_statuses") or list(FORUM_STATUSES)
        which = []
        if "registered" in statuses:
            which.append(Registration.status == RegistrationStatus.CONFIRMED)
        if "waiting" in statuses:
            which.append(Registration.status == RegistrationStatus.WAITING)
        if "checked_in" in statuses:
            which.append(Registration.checked_in_at.is_not(None))
        conditions.append(exists().where(
            Registration.user_id == User.id, Registration.forum_id == audience["forum"],
            or_(*which)))
    if audience.get("verdicts"):
        conditions.append(_latest_verdict().in_(audience["verdicts"]))
    return conditions


def _reachable() -> list[Any]:
    return [User.announcements.is_(True), User.unreachable_since.is_(None)]


async def count(db: AsyncSession, audience: Audience, default_language: str) -> int:
    return int((await db.execute(
        select(func.count()).select_from(User)
        .where(*_conditions(audience, default_language), *_reachable()))).scalar_one())


async def excluded(db: AsyncSession, audience: Audience,
                   default_language: str) -> dict[str, int]:
    """Users the filters match who are not sent to: opted out, unreachable (blocked)."""
    base = _conditions(audience, default_language)
    opted = (await db.execute(select(func.count()).select_from(User).where(
        *base, User.announcements.is_(False)))).scalar_one()
    blocked = (await db.execute(select(func.count()).select_from(User).where(
        *base, User.announcements.is_(True), User.unreachable_since.is_not(None)))).scalar_one()
    return {"opted_out": int(opted), "unreachable": int(blocked)}


# ---- composing, scheduling, cancelling ------------------------------------------------------


def compose(broadcast: Broadcast, language: str) -> Reply:
    """The message exactly as a recipient of `language` gets it (the preview too)."""
    texts = broadcast.texts or {}
    text = scripts.pick(texts, language) or texts.get(ALL) or next(iter(texts.values()), "")
    choices: tuple[tuple[Choice, ...], ...] = ()
    if broadcast.button_url and broadcast.button_labels:
        labels = broadcast.button_labels
        label = (scripts.pick(labels, language) or labels.get(ALL)
                 or next(iter(labels.values())))
        choices = ((Choice(label, "bc:link", url=broadcast.button_url),),)
    attachment = None
    if broadcast.attachment_data is not None:
        attachment = Attachment(broadcast.attachment_name or "file", broadcast.attachment_data,
                                broadcast.attachment_mime or "application/octet-stream")
    return Reply(text=text, choices=choices, attachment=attachment)


async def create(db: AsyncSession, *, created_by: int | None, texts: dict[str, str],
                 audience: AudienceRecord, attachment: Attachment | None = None,
                 attachment_kind: str | None = None, button_labels: dict[str, str] | None = None,
                 button_url: str | None = None) -> Broadcast:
    if not texts or any(len(text) > TEXT_LIMIT for text in texts.values()):
        raise BroadcastError("text")
    if attachment is not None and len(attachment.data) > ATTACHMENT_LIMIT:
        raise BroadcastError("too_big")
    moment = now()
    broadcast = Broadcast(
        created_by=created_by, status=BroadcastStatus.DRAFT, texts=texts,
        audience=dict(audience), total=0,
        attachment_kind=attachment_kind if attachment else None,
        attachment_name=attachment.filename if attachment else None,
        attachment_mime=attachment.mime if attachment else None,
        attachment_data=attachment.data if attachment else None,
        button_labels=button_labels if button_url else None, button_url=button_url,
        created_at=moment, updated_at=moment)
    db.add(broadcast)
    await db.flush()
    await audit.record(db, created_by, "broadcast.create", "broadcast", broadcast.id,
                       after={"texts": texts, "audience": filters(audience),
                              "attachment": broadcast.attachment_name,
                              "button_url": button_url}, at=moment)
    return broadcast


async def schedule(db: AsyncSession, broadcast_id: int, when: datetime,
                   by: int | None = None) -> Broadcast:
    """Send at `when` (now for "send now"): the scheduler job starts it."""
    broadcast = await db.get(Broadcast, broadcast_id)
    if broadcast is None or broadcast.status not in (BroadcastStatus.DRAFT,
                                                     BroadcastStatus.SCHEDULED):
        raise BroadcastError("state")
    before = audit.snapshot(broadcast, ("status", "scheduled_at"))
    broadcast.status, broadcast.scheduled_at = BroadcastStatus.SCHEDULED, when
    broadcast.updated_at = now()
    await audit.record(db, by, "broadcast.schedule", "broadcast", broadcast.id, before=before,
                       after=audit.snapshot(broadcast, ("status", "scheduled_at")))
    return broadcast


async def cancel(db: AsyncSession, broadcast_id: int, now: datetime,
                 by: int | None = None) -> Broadcast:
    """A scheduled or running broadcast stops: rows not yet sent are skipped."""
    broadcast = await db.get(Broadcast, broadcast_id)
    if broadcast is None or broadcast.status not in (
            BroadcastStatus.DRAFT, BroadcastStatus.SCHEDULED, BroadcastStatus.SENDING):
        raise BroadcastError("state")
    await audit.record(db, by, "broadcast.cancel", "broadcast", broadcast.id,
                       before={"status": broadcast.status},
                       after={"status": BroadcastStatus.CANCELLED}, at=now)
    broadcast.status = BroadcastStatus.CANCELLED
    broadcast.cancelled_at = broadcast.updated_at = now
    if broadcast.started_at is not None:
        broadcast.finished_at = now
    await db.execute(update(D).where(D.broadcast_id == broadcast_id, D.status == DS.PENDING)
                     .values(status=DS.SKIPPED, last_error="cancelled")
                     .execution_options(synchronize_session=False))
    return broadcast


async def start_due(db: AsyncSession, now: datetime, default_language: str) -> list[int]:
    """Start the scheduled broadcasts whose time has come: one delivery row per
    recipient, written by the database itself (`INSERT … SELECT`)."""
    chosen = skip_locked(db, select(Broadcast.id).where(
        Broadcast.status == BroadcastStatus.SCHEDULED, Broadcast.scheduled_at <= now))
    started = sorted((await db.execute(
        update(Broadcast).where(Broadcast.id.in_(chosen.scalar_subquery()))
        .values(status=BroadcastStatus.SENDING, started_at=now, updated_at=now)
        .returning(Broadcast.id).execution_options(synchronize_session=False))).scalars())
    for broadcast_id in started:
        broadcast = await db.get(Broadcast, broadcast_id)
        assert broadcast is not None
        audience = audience_of(broadcast)
        rows = select(
            literal(broadcast_id, ID_TYPE), User.id, User.channel, User.external_id,
            func.coalesce(User.language, default_language), literal(DS.PENDING.value),
            literal(0),
        ).where(*_conditions(audience, default_language), *_reachable())
        result = await db.execute(insert(D).from_select(
            ["broadcast_id", "user_id", "channel", "external_id", "language", "status",
             "attempts"], rows))
        total = result.rowcount  # type: ignore[attr-defined]
        if total is None or total < 0:
            total = int((await db.execute(select(func.count()).select_from(D).where(
                D.broadcast_id == broadcast_id))).scalar_one())
        audience["_excluded"] = await excluded(db, audience, default_language)
        broadcast.audience, broadcast.total = dict(audience), int(total)
        if not total:
            broadcast.status, broadcast.finished_at = BroadcastStatus.DONE, now
        log.info("broadcast %s started: %d recipients", broadcast_id, total)
    return started


async def finish_done(db: AsyncSession, now: datetime) -> list[int]:
    """Running broadcasts with nothing left to send are done."""
    left = exists().where(D.broadcast_id == Broadcast.id, D.status.in_((DS.PENDING, DS.SENDING)))
    return sorted((await db.execute(
        update(Broadcast).where(Broadcast.status == BroadcastStatus.SENDING, ~left)
        .values(status=BroadcastStatus.DONE, finished_at=now, updated_at=now)
        .returning(Broadcast.id).execution_options(synchronize_session=False))).scalars())


# ---- claiming and recording -------------------------------------------------------------------


def _running(now: datetime) -> ColumnElement[bool]:
    return D.broadcast_id.in_(select(Broadcast.id)
                              .where(Broadcast.status == BroadcastStatus.SENDING)
                              .scalar_subquery())


DELIVERIES: Queue[BroadcastDelivery] = Queue(
    D, pending=DS.PENDING, claimed=DS.SENDING, failed=DS.FAILED, ready=_running)
_CLAIMED = (D.broadcast_id, D.user_id, D.channel, D.external_id, D.language, D.attempted_at)
UNKNOWN = "taken again after a crash while it was being sent: sent again, may go twice"


@dataclass(frozen=True, slots=True)
class Claimed:
    id: int
    broadcast_id: int
    user_id: int | None
    channel: str
    external_id: str
    language: str
    attempts: int
    attempted_at: datetime | None = None


def _claimed(rows: Sequence[Sequence[Any]]) -> list[Claimed]:
    return [Claimed(row[0], row[2], row[3], row[4], row[5] or "", row[6], row[1], row[7])
            for row in rows]


async def claim(db: AsyncSession, worker: str, now: datetime, limit: int,
                queue: Queue[BroadcastDelivery] = DELIVERIES) -> list[Claimed]:
    """Claim up to `limit` due rows of running broadcasts for `worker`."""
    return _claimed(await queue.claim(db, worker, now, limit, *_CLAIMED))


# A temporary failure: the delivery is tried again later (no status of its own).
RETRY: Final = "retry"
# A row another process took over before its intent (this one stalled past its lease):
# nothing is written for it here.
TAKEN_OVER: Final = "taken over"


@dataclass(frozen=True, slots=True)
class Outcome:
    """What a platform made of one message: sent, blocked (403), retry (a temporary
    failure), failed (a permanent one), skipped, or pending (not sent: stopping; with
    `wait_until`: an outcome still unknown, waiting for the platform to tell)."""

    status: DeliveryStatus | Literal["retry", "taken over"]
    message_id: str | None = None
    error: str | None = None
    wait_until: datetime | None = None


async def record(db: AsyncSession, results: Iterable[tuple[Claimed, Outcome]], now: datetime,
                 queue: Queue[BroadcastDelivery] = DELIVERIES) -> None:
    sent: list[dict[str, Any]] = []
    retry: list[tuple[int, int, str | None]] = []
    failed: list[tuple[int, str | None]] = []
    released: list[int] = []
    waiting: list[dict[str, Any]] = []
    ended: dict[str, list[dict[str, Any]]] = {}
    blocked_users: list[int] = []
    for row, outcome in results:
        if outcome.status == DS.SENT:
            sent.append({"id": row.id, "message_id": outcome.message_id})
        elif outcome.status == RETRY:
            retry.append((row.id, row.attempts, outcome.error))
        elif outcome.status == DS.FAILED:
            failed.append((row.id, outcome.error))
        elif outcome.status == DS.PENDING and outcome.wait_until is not None:
            waiting.append({"id": row.id, "next_attempt_at": outcome.wait_until})
        elif outcome.status == DS.PENDING:
            released.append(row.id)
        elif outcome.status == TAKEN_OVER:
            continue
        else:  # blocked, skipped
            ended.setdefault(outcome.status, []).append(
                {"id": row.id, "last_error": (outcome.error or "")[:ERROR_LENGTH] or None})
            if outcome.status == DS.BLOCKED and row.user_id is not None:
                blocked_users.append(row.user_id)
    await queue.finish(db, sent, DS.SENT, sent_at=now, last_error=None)
    await queue.retry(db, retry, now)
    await queue.give_up(db, failed)
    await queue.release(db, released)
    await queue.finish(db, waiting, DS.PENDING)
    for status, rows in ended.items():
        await queue.finish(db, rows, status)
    if blocked_users:
        await db.execute(update(User).where(User.id.in_(blocked_users),
                                            User.unreachable_since.is_(None))
                         .values(unreachable_since=now)
                         .execution_options(synchronize_session=False))


_RANK: dict[str, int] = {DS.SENT: 1, DS.DELIVERED: 2, DS.READ: 3}


async def on_whatsapp_status(db: AsyncSession, wamid: str, status: str,
                             error: str | None = None, recipient: str | None = None,
                             now: datetime | None = None) -> None:
    """The WhatsApp status webhook: a broadcast message was delivered, read or failed.
    `recipient`: the user's external id when the wamid is of no message the bot
    recorded: it resolves a delivery whose outcome was unknown (intent, no result)."""
    if recipient is not None and status in _RANK:
        # A crash between Meta's answer and our record: the status tells it was sent.
        await DELIVERIES.resolve(db, and_(D.channel == "whatsapp", D.external_id == recipient),
                                 wamid, DS(status), now)
    if status in _RANK:
        lower = [name for name, rank in _RANK.items() if rank < _RANK[status]]
        await db.execute(update(D).where(D.message_id == wamid, D.status.in_(lower))
                         .values(status=DS(status)).execution_options(synchronize_session=False))
    elif status == DS.FAILED:
        await db.execute(update(D).where(D.message_id == wamid, D.status == DS.SENT)
                         .values(status=DS.FAILED,
                                 last_error=(error or "undelivered")[:ERROR_LENGTH])
                         .execution_options(synchronize_session=False))


# ---- the sender ------------------------------------------------------------------------------


class Platform(Protocol):
    # How long the platform takes to tell that a message whose outcome we missed went
    # out (WhatsApp's statuses); None: it cannot tell (Telegram): sent again.
    @property
    def status_wait(self) -> timedelta | None: ...

    async def send(self, external_id: str, reply: Reply, key: str) -> Outcome: ...


@dataclass
class Sender:
    """Claims due rows and sends them, `concurrency` at a time; each platform's own rate
    limiter sets the pace. `run_once` returns when nothing is due any more."""

    sessionmaker: async_sessionmaker[AsyncSession]
    platforms: dict[str, Platform]
    worker: str
    default_language: str = "kk"
    batch: int = 100
    concurrency: int = 32
    # How long a claimed row stays this sender's without a renewal (renewed every third).
    lease: timedelta = LEASE
    max_attempts: int = 5
    backoff: float = 30.0  # seconds before the first retry, doubled for each next one
    clock: Callable[[], datetime] = now
    # A file reference (a Telegram file id) -> its bytes, for attachments.
    fetch_file: Callable[[str], Awaitable[bytes]] | None = None
    _messages: dict[tuple[int, str], Reply] = field(default_factory=dict)
    _stopped: set[int] = field(default_factory=set)
    # Broadcasts this sender saw finish (for their final report).
    finished: list[int] = field(default_factory=list)
    _stopping: bool = False
    _running: int = 0
    _idle: asyncio.Event = field(default_factory=asyncio.Event)
    _queue: Queue[BroadcastDelivery] = field(init=False)
    _intents: Intents = field(init=False)

    def __post_init__(self) -> None:
        self._queue = replace(DELIVERIES, lease=self.lease, max_attempts=self.max_attempts,
                              backoff=timedelta(seconds=self.backoff))
        self._intents = Intents(self._queue, self.sessionmaker, self.clock)

    async def stop(self, wait: float = 10.0) -> None:
        """Claim nothing more; rows claimed but not yet sent go back to `pending`."""
        self._stopping = True
        if self._running:
            try:
                await asyncio.wait_for(self._idle.wait(), wait)
            except TimeoutError:
                log.warning("broadcasts: the sender did not stop in %ss", wait)

    async def start_due(self) -> list[int]:
        async with self.sessionmaker() as db, db.begin():
            return await start_due(db, self.clock(), self.default_language)

    async def run_once(self) -> dict[str, int]:
        if self._stopping:
            return {}
        self._running += 1
        self._idle.clear()
        try:
            return await self._run_once()
        finally:
            self._running -= 1
            if not self._running:
                self._idle.set()

    async def _run_once(self) -> dict[str, int]:
        async with Consumer(self._queue, self.sessionmaker, self.worker,
                            self.clock) as consumer:
            tally = await self._send_all(consumer)
        async with self.sessionmaker() as db, db.begin():
            finished = await finish_done(db, self.clock())
        self.finished += finished
        for broadcast_id in finished:
            log.info("broadcast %s done", broadcast_id)
            self._messages = {k: v for k, v in self._messages.items() if k[0] != broadcast_id}
        return tally

    async def _send_all(self, consumer: Consumer[BroadcastDelivery]) -> dict[str, int]:
        """Claim, send and record until nothing is due; the consumer renews the leases of
        the rows held meanwhile (queued, or waiting for the rate limiter)."""
        tally: dict[str, int] = {}
        queue: asyncio.Queue[Claimed | None] = asyncio.Queue(maxsize=self.batch)
        results: list[tuple[Claimed, Outcome]] = []
        have = asyncio.Event()
        taken = asyncio.Event()
        done = False
        seen: set[int] = set()

        async def writer() -> None:
            while True:
                await have.wait()
                have.clear()
                while results:
                    chunk = results[:]
                    del results[:len(chunk)]
                    async with self.sessionmaker() as db, db.begin():
                        await record(db, chunk, self.clock(), self._queue)
                    consumer.drop(row.id for row, _outcome in chunk)
                    for _row, outcome in chunk:
                        tally[outcome.status] = tally.get(outcome.status, 0) + 1
                if done and not results:
                    return

        async def work() -> None:
            while True:
                row = await queue.get()
                taken.set()
                if row is None:
                    return
                try:
                    outcome = await self._send(row, consumer.owner)
                except Exception as error:  # a bug or an unexpected answer: retry later
                    log.exception("broadcast delivery %s failed", row.id)
                    outcome = Outcome(RETRY, error=f"error: {type(error).__name__}")
                results.append((row, outcome))
                have.set()

        writing = asyncio.create_task(writer())
        workers = [asyncio.create_task(work()) for _ in range(self.concurrency)]
        try:
            while not self._stopping:
                await self.start_due()  # one scheduled meanwhile joins at once
                async with self.sessionmaker() as db, db.begin():
                    claimed = _claimed(await consumer.claim(db, self.batch, *_CLAIMED))
                    # Rows already claimed of a broadcast cancelled meanwhile are skipped.
                    seen |= {row.broadcast_id for row in claimed}
                    self._stopped = set((await db.execute(select(Broadcast.id).where(
                        Broadcast.status == BroadcastStatus.CANCELLED,
                        Broadcast.id.in_(seen)))).scalars())
                if not claimed:
                    break
                for row in claimed:
                    await queue.put(row)
                # Claim the next batch only when this one is nearly sent: rows wait in
                # this process no longer than they must, free for other senders.
                while queue.qsize() > self.batch // 4:
                    taken.clear()
                    await taken.wait()
        finally:
            for _ in workers:
                await queue.put(None)
            await asyncio.gather(*workers, return_exceptions=True)
            done = True
            have.set()
            await writing
        return tally

    async def _send(self, row: Claimed, owner: str) -> Outcome:
        if self._stopping:  # shutting down: back in line for the next start
            return Outcome(DS.PENDING)
        if row.broadcast_id in self._stopped:
            return Outcome(DS.SKIPPED, error="cancelled")
        platform = self.platforms.get(row.channel)
        if platform is None:
            return Outcome(DS.SKIPPED, error="channel cannot start messages")
        wait = getattr(platform, "status_wait", None)
        match retaken(row.attempted_at, wait, self.clock()):
            case Retaken.UNKNOWN:  # taken again after a crash mid-request
                log.warning("broadcast delivery %s: %s", row.id, UNKNOWN)
            case Retaken.WAIT:  # the status may still come
                assert row.attempted_at is not None and wait is not None
                return Outcome(DS.PENDING, wait_until=row.attempted_at + wait)
        message = await self._message(row.broadcast_id, row.language)
        if not await self._intents.mark(row.id, owner):
            return Outcome(TAKEN_OVER)  # another process holds it now: left to it
        return await platform.send(row.external_id, message, f"{row.broadcast_id}")

    async def _message(self, broadcast_id: int, language: str) -> Reply:
        key = (broadcast_id, language)
        if key not in self._messages:
            async with self.sessionmaker() as db, db.begin():
                broadcast = await db.get(Broadcast, broadcast_id)
                if broadcast is None:
                    raise BroadcastError("gone")
                await self._fetch_attachment(broadcast)
                for code in (*LANGUAGES, language):
                    self._messages[(broadcast_id, code)] = compose(broadcast, code)
        return self._messages[key]


    async def _fetch_attachment(self, broadcast: Broadcast) -> None:
        file = (broadcast.audience or {}).get(FILE_KEY)
        if broadcast.attachment_data is not None or not file:
            return
        if self.fetch_file is None:
            log.warning("broadcast %s: its file cannot be fetched here", broadcast.id)
            return
        data = await self.fetch_file(str(file["ref"]))
        if len(data) > ATTACHMENT_LIMIT:
            raise BroadcastError("too_big")
        broadcast.attachment_data = data


# ---- reports ---------------------------------------------------------------------------------


@dataclass
class Report:
    broadcast: Broadcast
    counts: dict[str, int]
    failed_reasons: dict[str, int]
    excluded: dict[str, int]
    duration: timedelta | None

    @property
    def pending(self) -> int:
        return self.counts.get(DS.PENDING, 0) + self.counts.get(DS.SENDING, 0)

    @property
    def sent(self) -> int:
        return sum(self.counts.get(name, 0) for name in (DS.SENT, DS.DELIVERED, DS.READ))

    @property
    def delivered(self) -> int:
        return self.counts.get(DS.DELIVERED, 0) + self.counts.get(DS.READ, 0)

    @property
    def read(self) -> int:
        return self.counts.get(DS.READ, 0)

    @property
    def failed(self) -> int:
        return self.counts.get(DS.FAILED, 0)

    @property
    def blocked(self) -> int:
        return self.counts.get(DS.BLOCKED, 0)

    @property
    def skipped(self) -> int:
        return self.counts.get(DS.SKIPPED, 0)


async def report(db: AsyncSession, broadcast: Broadcast, now: datetime) -> Report:
    counts = {status: int(n) for status, n in (await db.execute(
        select(D.status, func.count()).where(D.broadcast_id == broadcast.id)
        .group_by(D.status))).all()}
    reasons = {str(error or "?"): int(n) for error, n in (await db.execute(
        select(D.last_error, func.count()).where(D.broadcast_id == broadcast.id,
                                                 D.status == DS.FAILED)
        .group_by(D.last_error))).all()}
    duration = None
    if broadcast.started_at is not None:
        duration = (broadcast.finished_at or now) - broadcast.started_at
    return Report(broadcast, counts, reasons,
                  dict(audience_of(broadcast).get("_excluded") or {}), duration)


async def progress(db: AsyncSession, shown: list[Broadcast]) -> list[Report]:
    """The delivery counts of several broadcasts at once (one grouped query), for lists;
    `report` adds the reasons of failures and the duration for one."""
    counts: dict[int, dict[str, int]] = {broadcast.id: {} for broadcast in shown}
    if counts:
        for broadcast_id, status, n in (await db.execute(
                select(D.broadcast_id, D.status, func.count())
                .where(D.broadcast_id.in_(counts)).group_by(D.broadcast_id, D.status))).all():
            counts[broadcast_id][status] = int(n)
    return [Report(broadcast, counts[broadcast.id], {}, {}, None) for broadcast in shown]


async def listing(db: AsyncSession, page: int, size: int) -> tuple[list[Broadcast], Page]:
    """One page of the announcements but drafts, the latest first."""
    return await fetch_page(db, select(Broadcast).where(Broadcast.status != BroadcastStatus.DRAFT)
                            .order_by(Broadcast.id.desc()), page, size)


# ---- the opt-out -----------------------------------------------------------------------------


# Read on the settings screen, so built once (`session_row`: one trip on SQLite).
_ANNOUNCEMENTS = select(User.announcements).where(User.id == bindparam("user_id"))


async def announcements_on(db: AsyncSession, user_id: int) -> bool:
    row = await session_row(db, _ANNOUNCEMENTS, {"user_id": user_id})
    value = row.announcements if row is not None else None
    return bool(value) if value is not None else True


async def set_announcements(db: AsyncSession, user_id: int, on: bool) -> None:
    """Announcements on or off (the row is left alone when it already is)."""
    await db.execute(update(User).where(User.id == user_id, User.announcements.is_not(on))
                     .values(announcements=on)
                     .execution_options(synchronize_session=False))



# ---- privacy ---------------------------------------------------------------------------------


async def export_for(db: AsyncSession, user_id: int) -> list[dict[str, Any]]:
    """The announcements sent (or due) to a user, for `/mydata`."""
    rows = await db.execute(
        select(D.broadcast_id, D.channel, D.status, D.sent_at).where(D.user_id == user_id)
        .order_by(D.id))
    return [{"announcement": broadcast_id, "channel": channel, "status": status,
             "sent": iso(sent_at)} for broadcast_id, channel, status, sent_at in rows]


async def forget_user(db: AsyncSession, user_id: int) -> None:
    """The user's delivery rows lose whom they were for (the platform's id of the user
    and of the message, which on WhatsApp carries the phone number); those not sent yet
    are skipped. The anonymous rows keep the announcements' counts."""
    await db.execute(update(D).where(D.user_id == user_id, D.status == DS.PENDING)
                     .values(status=DS.SKIPPED, last_error="forgotten")
                     .execution_options(synchronize_session=False))
    await db.execute(update(D).where(D.user_id == user_id)
                     .values(user_id=None, external_id=None, message_id=None)
                     .execution_options(synchronize_session=False))
