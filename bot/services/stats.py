"""The Fund's numbers for the coordinators' dashboard, each a small table: who the bot
reaches (users by channel, language and country, per month of their first message),
eligibility checks per month by verdict and country, forums' registrations and arrivals,
announcements' delivery, questions to coordinators and how fast they are answered.

Every figure is counted by the database (GROUP BY), never by loading rows, so a page
stays fast with hundreds of thousands of users."""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import case, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.clock import as_utc
from bot.db.dialect import year_month
from bot.db.models import (
    Broadcast,
    CheckStatus,
    EligibilityCheck,
    Forum,
    HandoverMessage,
    HandoverThread,
    Registration,
    RegistrationStatus,
    ThreadStatus,
    User,
)
from bot.services import broadcasts

MONTHS = 12
USER_DIMENSIONS = {"channel": User.channel, "language": User.language, "country": User.country}
OTHER = "other"


@dataclass(frozen=True)
class Series:
    """Counts per row (a month, a forum) and column (a channel, a verdict)."""

    rows: list[str]
    columns: list[str]
    values: dict[tuple[str, str], int]

    def value(self, row: str, column: str) -> int:
        return self.values.get((row, column), 0)

    def row_total(self, row: str) -> int:
        return sum(self.value(row, column) for column in self.columns)


def _series(found: list[Any], top: int = 6) -> Series:
    """(row, column, count) rows into a Series; the columns past `top` as "other"."""
    totals: dict[str, int] = {}
    for _, column, count in found:
        totals[str(column or "?")] = totals.get(str(column or "?"), 0) + int(count)
    kept = sorted(totals, key=lambda c: (-totals[c], c))
    columns = kept[:top] + ([OTHER] if len(kept) > top else [])
    values: dict[tuple[str, str], int] = {}
    rows: list[str] = []
    for row, column, count in found:
        name = str(column or "?")
        name = name if name in columns else OTHER
        if str(row) not in rows:
            rows.append(str(row))
        values[(str(row), name)] = values.get((str(row), name), 0) + int(count)
    return Series(sorted(rows), columns, values)


def _since(now: datetime) -> datetime:
    return now - timedelta(days=31 * MONTHS)


async def users(db: AsyncSession, by: str, now: datetime) -> Series:
    """New users per month (of their first message) by channel, language or country."""
    column = USER_DIMENSIONS[by]
    month = year_month(db, User.created_at)
    found = (await db.execute(
        select(month, column, func.count()).where(User.created_at >= _since(now))
        .group_by(month, column).order_by(month))).all()
    return _series(list(found))


async def eligibility(db: AsyncSession, by: str, now: datetime) -> Series:
    """Completed eligibility checks per month by verdict or by country."""
    column = EligibilityCheck.verdict if by == "verdict" else EligibilityCheck.country
    month = year_month(db, EligibilityCheck.completed_at)
    found = (await db.execute(
        select(month, column, func.count())
        .where(EligibilityCheck.status == CheckStatus.DONE,
               EligibilityCheck.completed_at >= _since(now))
        .group_by(month, column).order_by(month))).all()
    return _series(list(found))


async def forums(db: AsyncSession, now: datetime, limit: int = 12) -> Series:
    """The latest forums: registered (not arrived), arrived, and the waiting list."""
    latest = (await db.execute(
        select(Forum.id, Forum.slug).order_by(Forum.starts_at.desc()).limit(limit))).all()
    ids = {forum_id: slug for forum_id, slug in latest}
    values: dict[tuple[str, str], int] = {}
    if ids:
        checked = Registration.checked_in_at.is_not(None)
        for forum_id, status, arrived, count in (await db.execute(
                select(Registration.forum_id, Registration.status, checked, func.count())
                .where(Registration.forum_id.in_(ids))
                .group_by(Registration.forum_id, Registration.status, checked))).all():
            if status not in (RegistrationStatus.CONFIRMED, RegistrationStatus.WAITING):
                continue
            # Parts that add up: registered and not (yet) arrived, arrived, waiting.
            column = "checked_in" if arrived and status == RegistrationStatus.CONFIRMED \
                else str(status)
            key = (ids[forum_id], column)
            values[key] = values.get(key, 0) + int(count)
    rows = [slug for _, slug in reversed(latest)]
    return Series(rows, ["checked_in", "confirmed", "waiting"], values)


async def announcements(db: AsyncSession, limit: int = 12) -> Series:
    """The latest announcements: sent (not yet delivered), delivered (not yet read),
    read, failed, blocked; the parts of one bar add up."""
    latest = list((await db.execute(
        select(Broadcast).where(Broadcast.started_at.is_not(None))
        .order_by(Broadcast.id.desc()).limit(limit))).scalars())
    columns = ["sent", "delivered", "read", "failed", "blocked"]
    values = {(f"#{report.broadcast.id}", status): count
              for report in await broadcasts.progress(db, latest)
              for status, count in report.counts.items() if status in columns}
    return Series([f"#{b.id}" for b in reversed(latest)], columns, values)


@dataclass(frozen=True)
class Questions:
    open: int
    closed: int
    answered: int
    median_minutes: float | None
    p90_minutes: float | None
    per_month: Series


async def questions(db: AsyncSession, now: datetime, sample: int = 2000) -> Questions:
    """Open and closed questions, and how long the first answer took (the latest
    `sample` answered questions)."""
    by_status = {str(status): int(count) for status, count in (await db.execute(
        select(HandoverThread.status, func.count()).group_by(HandoverThread.status))).all()}
    first_answer = (select(HandoverMessage.thread_id,
                           func.min(HandoverMessage.created_at).label("at"))
                    .where(HandoverMessage.direction == "out")
                    .group_by(HandoverMessage.thread_id).subquery())
    pairs = (await db.execute(
        select(HandoverThread.created_at, first_answer.c.at)
        .join(first_answer, first_answer.c.thread_id == HandoverThread.id)
        .order_by(HandoverThread.id.desc()).limit(sample))).all()
    minutes = sorted((as_utc(answered) - as_utc(asked)).total_seconds() / 60
                     for asked, answered in pairs)
    month = year_month(db, HandoverThread.created_at)
    opened = case((HandoverThread.status == ThreadStatus.OPEN, "open"), else_="closed")
    per_month = (await db.execute(
        select(month, opened, func.count()).where(HandoverThread.created_at >= _since(now))
        .group_by(month, opened).order_by(month))).all()
    return Questions(
        open=by_status.get(ThreadStatus.OPEN, 0),
        closed=sum(count for status, count in by_status.items() if status != ThreadStatus.OPEN),
        answered=len(minutes),
        median_minutes=round(statistics.median(minutes), 1) if minutes else None,
        p90_minutes=round(minutes[int(0.9 * (len(minutes) - 1))], 1) if minutes else None,
        per_month=_series(list(per_month)))
