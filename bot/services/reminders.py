"""Delivery of reminders and notices: rows claimed atomically, sent once.

`claim` marks due rows as `sending` in one statement (`UPDATE … RETURNING`, with
`FOR UPDATE SKIP LOCKED` on PostgreSQL), so two processes never take the same row;
a row left `sending` by a process that died is taken again after `stale`. APScheduler
only wakes `run_due`; the rows are the record.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.core.notify import Notifier, PushResult
from bot.core.replies import Reply
from bot.db.models import Forum, Registration, Reminder, User
from bot.services.clock import as_utc

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 5


@dataclass(frozen=True)
class Due:
    """What a reminder needs to be worded: the row, the registration, the forum, the user."""

    reminder: Reminder
    registration: Registration
    forum: Forum
    user: User


# (due item, now) -> replies in the user's language
Compose = Callable[[Due, datetime], list[Reply]]


async def claim(db: AsyncSession, worker: str, now: datetime, limit: int = 50,
                stale: timedelta = timedelta(minutes=5)) -> list[int]:
    ready = or_(
        (Reminder.status == "pending") & (Reminder.due_at <= now),
        (Reminder.status == "sending") & (Reminder.claimed_at < now - stale),
    )
    chosen = select(Reminder.id).where(ready).order_by(Reminder.due_at, Reminder.id).limit(limit)
    if db.get_bind().dialect.name == "postgresql":
        chosen = chosen.with_for_update(skip_locked=True)
    result = await db.execute(
        update(Reminder)
        .where(Reminder.id.in_(chosen.scalar_subquery()))
        .values(status="sending", claimed_by=worker, claimed_at=now,
                attempts=Reminder.attempts + 1)
        .returning(Reminder.id)
        .execution_options(synchronize_session=False))
    return sorted(result.scalars())


def _skip_reason(due: Due, now: datetime, superseded: bool) -> str | None:
    reminder, registration, forum = due.reminder, due.registration, due.forum
    if reminder.kind == "before":
        if registration.status != "confirmed" or forum.status == "cancelled":
            return "not attending"
        if now >= as_utc(forum.starts_at):
            return "event started"
        if superseded:
            return "superseded by a later reminder"
    elif reminder.kind in ("changed", "promoted") and (
        registration.status not in ("confirmed", "waiting") or now >= as_utc(forum.ends_at)
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
            Reminder.due_at <= now, Reminder.status.in_(("pending", "sending", "sent"))))
    ).first()
    return later is not None


async def deliver(sessionmaker: async_sessionmaker[AsyncSession], notifier: Notifier,
                  compose: Compose, reminder_id: int, now: datetime) -> str:
    """Send one claimed row; returns its final status."""
    async with sessionmaker() as db, db.begin():
        due = await _load(db, reminder_id)
        if due is None:
            return "gone"
        reason = "user deleted" if due.user is None else \
            _skip_reason(due, now, await _superseded(db, due, now))
        if reason is not None:
            due.reminder.status, due.reminder.last_error = "skipped", reason
            return "skipped"
        replies = compose(due, now)
        channel, external_id = due.user.channel, due.user.external_id
    result = await notifier.push(channel, external_id, replies, due.reminder.kind)
    async with sessionmaker() as db, db.begin():
        reminder = await db.get(Reminder, reminder_id)
        if reminder is None:
            return "gone"
        if result is PushResult.SENT:
            reminder.status, reminder.sent_at = "sent", now
        elif result is PushResult.NO_CHANNEL:
            reminder.status, reminder.last_error = "skipped", "channel cannot start messages"
        elif result is PushResult.UNREACHABLE:
            reminder.status, reminder.last_error = "failed", "user unreachable"
        elif reminder.attempts >= MAX_ATTEMPTS:
            reminder.status, reminder.last_error = "failed", "gave up after retries"
        else:
            reminder.status = "pending"
            reminder.due_at = now + timedelta(minutes=2 ** reminder.attempts)
            reminder.last_error = "temporary failure"
        return reminder.status


async def run_due(sessionmaker: async_sessionmaker[AsyncSession], notifier: Notifier,
                  compose: Compose, worker: str, now: datetime, batch: int = 50) -> dict[str, int]:
    """Claim and send everything due now; returns how many ended in each status."""
    tally: dict[str, int] = {}
    while True:
        async with sessionmaker() as db, db.begin():
            claimed = await claim(db, worker, now, batch)
        if not claimed:
            return tally
        for reminder_id in claimed:
            try:
                status = await deliver(sessionmaker, notifier, compose, reminder_id, now)
            except Exception:
                log.exception("reminder %s failed", reminder_id)
                status = "error"
            tally[status] = tally.get(status, 0) + 1
        if len(claimed) < batch:
            return tally
