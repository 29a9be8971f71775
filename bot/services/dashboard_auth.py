"""Signing in to the coordinators' dashboard, without passwords.

- The bot's `/dashboard` sends a coordinator a one-time link (`issue_link`): a random
  token of which only the SHA-256 digest is stored; it opens one session, once, within
  `DASHBOARD_LINK_MINUTES` (`redeem`, a conditional UPDATE, so two clicks at once open
  one session).
- A session (`open_session`) is a random cookie value (stored as its digest) with its
  own CSRF token, expiring after `DASHBOARD_SESSION_HOURS`; signing out deletes it.
- Inside Telegram (a Mini App) the `initData` Telegram hands the page is checked with the
  bot token as Telegram documents it (`check_init_data`), its age limited.

Who may sign in, and what they may do there, is the one role check of
bot/services/roles.py (`member`)."""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import parse_qsl

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.config import Settings
from bot.db.models import Coordinator, DashboardLink, DashboardSession, User
from bot.services import roles
from bot.services.coordinators import telegram_user

TOKEN_BYTES = 32
TOKEN_LIMIT = 100  # characters of a token taken from outside at most
INIT_DATA_LIMIT = 4096
INIT_DATA_AGE = timedelta(hours=1)


def digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "replace")).hexdigest()


@dataclass(frozen=True)
class Member:
    """A coordinator as the dashboard sees them: the user and their role."""

    user: User
    lead: bool


async def member(db: AsyncSession, user_id: int, settings: Settings) -> Member | None:
    """The user with their role now; None when they are no coordinator (any more)."""
    row = (await db.execute(
        select(User, Coordinator.user_id.is_not(None))
        .outerjoin(Coordinator, Coordinator.user_id == User.id)
        .where(User.id == user_id))).first()
    if row is None:
        return None
    user, listed = row
    if not roles.is_coordinator(user, settings, listed=bool(listed)):
        return None
    return Member(user, roles.is_lead(user, settings))


async def issue_link(db: AsyncSession, user_id: int, now: datetime, minutes: int) -> str:
    """A new one-time token for `user_id`; the caller builds the link on it."""
    token = secrets.token_urlsafe(TOKEN_BYTES)
    db.add(DashboardLink(digest=digest(token), user_id=user_id,
                         expires_at=now + timedelta(minutes=minutes)))
    await db.flush()
    return token


async def redeem(db: AsyncSession, token: str, now: datetime) -> int | None:
    """The user a valid, unused, unexpired link is for (and it is used now), or None."""
    if not token or len(token) > TOKEN_LIMIT:
        return None
    key = digest(token)
    result = await db.execute(
        update(DashboardLink)
        .where(DashboardLink.digest == key, DashboardLink.used_at.is_(None),
               DashboardLink.expires_at > now)
        .values(used_at=now).execution_options(synchronize_session=False))
    if result.rowcount != 1:  # type: ignore[attr-defined]
        return None
    return (await db.execute(select(DashboardLink.user_id)
                             .where(DashboardLink.digest == key))).scalar_one()


@dataclass(frozen=True)
class Opened:
    cookie: str
    csrf: str


async def open_session(db: AsyncSession, user_id: int, now: datetime, hours: int,
                       language: str | None) -> Opened:
    cookie, csrf = secrets.token_urlsafe(TOKEN_BYTES), secrets.token_urlsafe(TOKEN_BYTES)
    db.add(DashboardSession(digest=digest(cookie), user_id=user_id, csrf=csrf,
                            language=language, created_at=now,
                            expires_at=now + timedelta(hours=hours)))
    await db.flush()
    return Opened(cookie, csrf)


async def session_of(db: AsyncSession, cookie: str, now: datetime) -> DashboardSession | None:
    if not cookie or len(cookie) > TOKEN_LIMIT:
        return None
    return (await db.execute(select(DashboardSession).where(
        DashboardSession.digest == digest(cookie), DashboardSession.expires_at > now))
    ).scalar_one_or_none()


async def close_session(db: AsyncSession, cookie: str) -> None:
    await db.execute(delete(DashboardSession).where(DashboardSession.digest == digest(cookie)))


async def purge(db: AsyncSession, now: datetime) -> int:
    """Delete expired sessions and links; how many went."""
    gone = await db.execute(delete(DashboardSession).where(DashboardSession.expires_at <= now))
    links = await db.execute(delete(DashboardLink).where(DashboardLink.expires_at <= now))
    return int(getattr(gone, "rowcount", 0) or 0) + int(getattr(links, "rowcount", 0) or 0)


def check_init_data(init_data: str, bot_token: str, now: datetime,
                    max_age: timedelta = INIT_DATA_AGE) -> int | None:
    """The Telegram user id of a Mini App's `initData` signed with `bot_token` and not
    older than `max_age`; None when forged, changed, stale or malformed. The key is
    HMAC-SHA256("WebAppData", bot_token); the hash is HMAC-SHA256 of the sorted
    `key=value` lines (without `hash`) under that key."""
    if not init_data or len(init_data) > INIT_DATA_LIMIT:
        return None
    try:
        pairs = parse_qsl(init_data, keep_blank_values=True, strict_parsing=True)
    except ValueError:
        return None
    fields = dict(pairs)
    if len(fields) != len(pairs):
        return None
    received = fields.pop("hash", "")
    check = "\n".join(f"{key}={value}" for key, value in sorted(fields.items()))
    secret = hmac.new(b"WebAppData", bot_token.encode(), hashlib.sha256).digest()
    expected = hmac.new(secret, check.encode(), hashlib.sha256).hexdigest()
    if not received or not hmac.compare_digest(expected, received):
        return None
    try:
        signed_at = datetime.fromtimestamp(int(fields.get("auth_date", "")), now.tzinfo)
        user = json.loads(fields.get("user", ""))
        telegram_id = int(user["id"])
    except (ValueError, TypeError, KeyError, OverflowError, OSError):
        return None
    if not timedelta(minutes=-5) <= now - signed_at <= max_age:
        return None
    return telegram_id


async def telegram_member(db: AsyncSession, telegram_id: int, settings: Settings
                          ) -> Member | None:
    """The coordinator with this Telegram id, if they are one."""
    user = await telegram_user(db, telegram_id)
    return await member(db, user.id, settings) if user is not None else None
