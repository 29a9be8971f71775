"""Shared helpers for forum tests."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from bot import clock
from bot.db.models import Forum, User
from bot.services import forums

OFFSETS = [timedelta(days=7), timedelta(days=1), timedelta(hours=2)]

DETAILS = {"full_name": "Айгерім Сейітова", "country": "DE", "city": "Berlin",
           "organization": "Qazaq Trade GmbH", "sector": "trade", "phone": "+4915112345678",
           "email": "aigerim@example.com"}


async def make_forum(db: AsyncSession, *, capacity: int = 3, starts_in: timedelta =
                     timedelta(days=10), slug: str = "berlin-2027", publish: bool = True,
                     now: datetime | None = None) -> Forum:
    now = now or clock.now()
    starts = now + starts_in
    forum = await forums.create(db, forums.ForumDraft(
        slug=slug,
        title={"kk": "Берлиндегі іскерлік форум", "ru": "Бизнес-форум в Берлине",
               "en": "Business forum in Berlin"},
        description={"kk": "Отандастармен кездесу.", "ru": "Встреча с соотечественниками.",
                     "en": "Meet compatriots in business."},
        country="DE", city={"kk": "Берлин", "ru": "Берлин", "en": "Berlin"},
        venue={"kk": "«Адлон» қонақүйі", "ru": "Отель «Адлон»", "en": "Hotel Adlon"},
        timezone="Europe/Berlin", starts_at=starts, ends_at=starts + timedelta(hours=8),
        event_language="ru", capacity=capacity, deadline=starts - timedelta(days=1),
    ), by=None, now=now)
    if publish:
        await forums.set_status(db, forum, "published", now)
    return forum


async def make_user(db: AsyncSession, external_id: str, channel: str = "test",
                    language: str = "en") -> User:
    user = User(channel=channel, external_id=external_id, language=language,
                created_at=clock.now(), last_seen_at=clock.now())
    db.add(user)
    await db.flush()
    return user
