"""Coordinators that lead coordinators (ADMIN_IDS) add and remove, by Telegram user id.

A coordinator is a `coordinators` row of their Telegram user; the engine reads it on
every update (the role check is bot/services/roles.py), so adding or removing one
takes effect at the next message. Someone
added before they ever wrote to the bot gets a user row without a language."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.config import Settings
from bot.core.inbound import whole_number
from bot.db.models import Coordinator, User
from bot.services import audit

CHANNEL = "telegram"


@dataclass(frozen=True)
class Listed:
    telegram_id: int
    name: str | None
    lead: bool
    added_by: int | None  # the Telegram id of who added them


async def telegram_user(db: AsyncSession, telegram_id: int, name: str | None = None,
                        *, create: bool = False, now: datetime | None = None) -> User | None:
    user = (await db.execute(select(User).where(
        User.channel == CHANNEL, User.external_id == str(telegram_id)))).scalar_one_or_none()
    if user is None and create:
        user = User(channel=CHANNEL, external_id=str(telegram_id), display_name=name)
        if now is not None:
            user.created_at = user.last_seen_at = now
        db.add(user)
        await db.flush()
    elif user is not None and name and not user.display_name:
        user.display_name = name
    return user


async def add(db: AsyncSession, telegram_id: int, by: int | None, now: datetime,
              name: str | None = None, *, actor: int | None = None) -> bool:
    """True when added now; False when they already were a coordinator. `by` is the
    lead's Telegram id, `actor` their users.id (for the audit log)."""
    user = await telegram_user(db, telegram_id, name, create=True, now=now)
    assert user is not None
    if await db.get(Coordinator, user.id) is not None:
        return False
    by_user = await telegram_user(db, by) if by is not None else None
    db.add(Coordinator(user_id=user.id, added_by=by_user.id if by_user else None,
                       created_at=now))
    await db.flush()
    # Only internal numbers: the log keeps no platform id of a person (/forgetme).
    await audit.record(db, actor or (by_user.id if by_user else None), "coordinator.add",
                       "user", user.id, after={"coordinator": True}, at=now)
    return True


async def remove(db: AsyncSession, telegram_id: int, by: int | None = None) -> bool:
    """True when they were a coordinator (a lead stays one: ADMIN_IDS is configuration);
    `by` is the lead's users.id, for the audit log."""
    user = await telegram_user(db, telegram_id)
    if user is None:
        return False
    result = await db.execute(delete(Coordinator).where(Coordinator.user_id == user.id))
    if not result.rowcount:  # type: ignore[attr-defined]
        return False
    await audit.record(db, by, "coordinator.remove", "user", user.id,
                       before={"coordinator": True}, after={"coordinator": False})
    return True


async def listing(db: AsyncSession, settings: Settings) -> list[Listed]:
    """Leads first (in ADMIN_IDS order), then the coordinators they added, oldest first."""
    leads = {int(user.external_id): user for user in (await db.execute(select(User).where(
        User.channel == CHANNEL,
        User.external_id.in_([str(i) for i in settings.admin_ids])))).scalars()}
    result = [Listed(i, leads[i].display_name if i in leads else None, True, None)
              for i in settings.admin_ids]
    adder = User.__table__.alias("adder")
    rows = (await db.execute(
        select(User.external_id, User.display_name, adder.c.external_id)
        .join(Coordinator, Coordinator.user_id == User.id)
        .outerjoin(adder, adder.c.id == Coordinator.added_by)
        .where(User.channel == CHANNEL)
        .order_by(Coordinator.created_at, Coordinator.user_id)
    )).all()
    for external_id, name, added_by in rows:
        telegram_id = whole_number(external_id)
        if telegram_id is not None and telegram_id not in settings.admin_ids:
            result.append(Listed(telegram_id, name, False,
                                 whole_number(added_by) if added_by else None))
    return result
