"""Delivery of reminders and notices: rows of the durable queue (`bot.db.queue`), each
sent once, and never twice where the platform can tell (WhatsApp).

A reminder is taken once its `due_at` has come: `claim` marks due rows `sending` in one
statement, so two processes never take the same row, and a row whose process died is
taken over when its lease expires. APScheduler only wakes `run_due`; the rows are the
record.

The intent (`attempted_at`) is committed before the message goes to its channel (and
its turn from the rate limiter), the result (the platform's message id) after: the
queue's `Intents`, as for announcements. A row taken again with an intent and no result
is one whose process died while its message was out, which may have gone:
- WhatsApp tells: the status webhook of a message of no record names the recipient and
  resolves the row as sent (`on_whatsapp_status`); the row waits for it the channel's
  `status_wait` (2 minutes) after the intent, and is sent again only when none came.
- Telegram cannot tell, so such a row is sent again, as an announcement is, and kept
  with `last_error` `AGAIN` once sent. The intent is written before the message's turn
  from the rate limiter, so most rows a crash leaves so were still waiting for their
  turn and never went out: sending them again delivers them; only one whose request
  was out at the crash may go twice (at most the requests in flight, a few per
  process). Recording them sent instead would lose the many to spare the few.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot import clock
from bot.clock import as_utc
from bot.core.notify import Notifier, PushResult
from bot.core.replies import Reply
from bot.db.models import (
    Forum,
    ForumStatus,
    Registration,
    RegistrationStatus,
    Reminder,
    ReminderStatus,
    User,
)
from bot.db.queue import Consumer, Intents, Queue, Retaken, retaken

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 5
S = ReminderStatus
# A row taken again on a channel that cannot tell whether its message went out, sent
# again (its `last_error` once sent).
AGAIN = "sent again: its process stopped while it was out, it may have gone twice"
# What `deliver` returns for a row another process took over before its intent.
TAKEN_OVER = "taken over"


def _due(now: datetime) -> ColumnElement[bool]:
    return Reminder.due_at <= now


REMINDERS: Queue[Reminder] = Queue(
    Reminder, pending=S.PENDING, claimed=S.SENDING, failed=S.FAILED, ready=_due,
    order_by=lambda: (Reminder.due_at, Reminder.id), max_attempts=MAX_ATTEMPTS,
    backoff=timedelta(minutes=2))


@dataclass(frozen=True)
class Due:
    """What a reminder needs to be worded: the row, the registration, the forum, the user."""

    reminder: Reminder
    registration: Registration
    forum: Forum
    user: User


# (due item, now) -> replies in the user's language
Compose = Callable[[Due, datetime], list[Reply]]


async def claim(db: AsyncSession, worker: str, now: datetime, limit: int = 50) -> list[int]:
    """Claim up to `limit` due reminders for `worker`; their ids."""
    return [row[0] for row in await REMINDERS.claim(db, worker, now, limit)]


def _skip_reason(due: Due, now: datetime, superseded: bool) -> str | None:
    reminder, registration, forum = due.reminder, due.registration, due.forum
    if reminder.kind == "before":
        if (registration.status != RegistrationStatus.CONFIRMED
                or forum.status == ForumStatus.CANCELLED):
            return "not attending"
        if now >= as_utc(forum.starts_at):
            return "event started"
        if superseded:
            return "superseded by a later reminder"
    elif reminder.kind in ("changed", "promoted") and (
        registration.status not in (RegistrationStatus.CONFIRMED, RegistrationStatus.WAITING)
        or now >= as_utc(forum.ends_at)
    ):
        return "no longer relevant"
    return None


async def _load(db: AsyncSession, reminder_id: int) -> Due | None:
    row = (await db.execute(
        select(Reminder, Registration, Forum, User)
        .join(Registration, Registration.id == Reminder.registration_id)
        .join(Forum, Forum.id == Registration.forum_id)
        .outerjoin(User, User.id == Registration.user_id)
        .where(Reminder.id == reminder_id))).first()
    if row is None:
        return None
    reminder, registration, forum, user = row
    return Due(reminder, registration, forum, user)


async def _superseded(db: AsyncSession, due: Due, now: datetime) -> bool:
    """After a downtime several reminders may be due at once: only the nearest is sent."""
    if due.reminder.kind != "before" or due.reminder.offset_minutes is None:
        return False
    later = (await db.execute(
        select(Reminder.id).where(
            Reminder.registration_id == due.registration.id, Reminder.kind == "before",
            Reminder.offset_minutes < due.reminder.offset_minutes,
            Reminder.due_at <= now, Reminder.status.in_((S.PENDING, S.SENDING, S.SENT))))
    ).first()
    return later is not None


async def deliver(sessionmaker: async_sessionmaker[AsyncSession], notifier: Notifier,
                  compose: Compose, reminder_id: int, now: datetime,
                  intents: Intents, owner: str | None = None) -> str:
    """Send one claimed row; returns its final status (pending: not yet)."""
    async with sessionmaker() as db, db.begin():
        due = await _load(db, reminder_id)
        if due is None:
            return "gone"
        reason = "user deleted" if due.user is None else \
            _skip_reason(due, now, await _superseded(db, due, now))
        if reason is not None:
            await REMINDERS.finish(db, [reminder_id], S.SKIPPED, last_error=reason)
            return S.SKIPPED
        channel, external_id = due.user.channel, due.user.external_id
        attempted, wait = due.reminder.attempted_at, notifier.status_wait(channel)
        again = False
        match retaken(attempted, wait, now):
            case Retaken.UNKNOWN:  # taken again after a crash mid-request: sent again
                log.warning("reminder %s: %s", reminder_id, AGAIN)
                again = True
            case Retaken.WAIT:  # the platform's status may still tell it went out
                assert attempted is not None and wait is not None
                await REMINDERS.finish(db, [{"id": reminder_id,
                                             "next_attempt_at": attempted + wait}], S.PENDING)
                return S.PENDING
        replies = compose(due, now)
        attempts = due.reminder.attempts
    if not await intents.mark(reminder_id, owner):
        return TAKEN_OVER  # another process holds it now (this one stalled past its lease)
    pushed = await notifier.push(channel, external_id, replies, due.reminder.kind)
    async with sessionmaker() as db, db.begin():
        if pushed.result is PushResult.SENT:
            await REMINDERS.finish(
                db, [{"id": reminder_id, "message_id": pushed.first_id}],
                S.SENT, sent_at=now, last_error=AGAIN if again else None)
            return S.SENT
        if pushed.result is PushResult.NO_CHANNEL:
            await REMINDERS.finish(db, [reminder_id], S.SKIPPED,
                                   last_error="channel cannot start messages")
            return S.SKIPPED
        if pushed.result is PushResult.UNREACHABLE:
            await REMINDERS.give_up(db, [(reminder_id, "user unreachable")])
            return S.FAILED
        gave_up = await REMINDERS.retry(db, [(reminder_id, attempts, "temporary failure")], now,
                                        gave_up="gave up after retries")
        return S.FAILED if gave_up else S.PENDING


async def on_whatsapp_status(db: AsyncSession, wamid: str, status: str, recipient: str,
                             now: datetime) -> None:
    """The status of a WhatsApp message of no record, naming its recipient: the
    recipient's reminders whose outcome was lost in a crash went out."""
    if status in (S.SENT, "delivered", "read"):
        theirs = select(Registration.id).join(User, User.id == Registration.user_id).where(
            User.channel == "whatsapp", User.external_id == recipient)
        await REMINDERS.resolve(db, Reminder.registration_id.in_(theirs.scalar_subquery()),
                                wamid, S.SENT, now)


async def run_due(sessionmaker: async_sessionmaker[AsyncSession], notifier: Notifier,
                  compose: Compose, worker: str, now: datetime, batch: int = 50,
                  concurrency: int = 16, ahead: timedelta = timedelta()) -> dict[str, int]:
    """Claim and send everything due by `now + ahead`, `concurrency` at a time (the
    platform's rate limiter sets the pace: a batch claimed here goes out as fast as the
    shared limit lets it, not one after another); returns how many ended in each status.

    A reminder due after `now` is claimed ahead and sent when it is due: with `ahead` as
    long as the time to the next run, no reminder waits for the next look (its lease is
    renewed meanwhile, so another process takes it over if this one dies)."""
    tally: dict[str, int] = {}
    started = clock.now()
    turns = asyncio.Semaphore(concurrency)

    def moving() -> datetime:  # `now`, moving on while the batch is sent
        return now + (clock.now() - started)

    async def one(consumer: Consumer[Reminder], reminder_id: int, attempts: int,
                  due_at: datetime) -> None:
        async with turns:
            at = now  # a row due by the run's start, as of the start
            if due_at > now:  # claimed ahead: sent when it is due, as of then
                await asyncio.sleep(max(0.0, (due_at - moving()).total_seconds()))
                at = max(due_at, moving())
            try:
                status = await deliver(sessionmaker, notifier, compose, reminder_id, at,
                                       intents, consumer.owner)
            except Exception as error:
                log.exception("reminder %s failed", reminder_id)
                status = "error"
                async with sessionmaker() as db, db.begin():
                    await REMINDERS.retry(db, [(reminder_id, attempts, repr(error))], at)
        consumer.drop([reminder_id])
        tally[status] = tally.get(status, 0) + 1

    intents = Intents(REMINDERS, sessionmaker, moving)
    horizon = now + ahead
    async with Consumer(REMINDERS, sessionmaker, worker, moving) as consumer:
        while True:
            async with sessionmaker() as db, db.begin():
                claimed = [(row[0], row[1], row[2]) for row in await consumer.claim(
                    db, batch, Reminder.due_at, ready_at=max(horizon, moving()))]
            if not claimed:
                return tally
            await asyncio.gather(*(one(consumer, reminder_id, attempts, due_at)
                                   for reminder_id, attempts, due_at in claimed))
            if len(claimed) < batch:
                return tally
