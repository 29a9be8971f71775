"""Forums from a YAML file (`python -m bot forums import FILE`): created, or updated by
slug (people registered hear about changed times and places)."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from babel import Locale
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot import LANGUAGES
from bot.db.models import Forum, ForumStatus
from bot.services import forums


class ForumFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    slug: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{1,62}$")
    title: dict[str, str]
    description: dict[str, str]
    country: str
    # The same in every language (a string), or one per language.
    city: dict[str, str]
    venue: dict[str, str]
    timezone: str
    starts: datetime
    ends: datetime
    deadline: datetime
    language: Literal["kk", "ru", "en"]
    capacity: int = Field(ge=1)
    status: Literal["draft", "published", "closed", "cancelled"] = "draft"

    @field_validator("city", "venue", mode="before")
    @classmethod
    def _same_everywhere(cls, value: object) -> object:
        if isinstance(value, str) and value.strip():
            return {language: value.strip() for language in LANGUAGES}
        return value

    @field_validator("title", "description", "city", "venue")
    @classmethod
    def _three_languages(cls, value: dict[str, str]) -> dict[str, str]:
        missing = [language for language in LANGUAGES if not value.get(language, "").strip()]
        if missing:
            raise ValueError(f"missing languages: {', '.join(missing)}")
        return value

    @field_validator("country")
    @classmethod
    def _country(cls, value: str) -> str:
        if value.upper() not in Locale("en").territories:
            raise ValueError(f"unknown country code {value!r}")
        return value.upper()

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as error:
            raise ValueError(f"unknown time zone {value!r}") from error
        return value

    def local(self, moment: datetime) -> datetime:
        """Times without an offset are the forum's local time."""
        return moment if moment.tzinfo else moment.replace(tzinfo=ZoneInfo(self.timezone))

    def draft(self) -> forums.ForumDraft:
        return forums.ForumDraft(
            slug=self.slug, title=self.title, description=self.description,
            country=self.country, city=self.city, venue=self.venue, timezone=self.timezone,
            starts_at=self.local(self.starts), ends_at=self.local(self.ends),
            event_language=self.language, capacity=self.capacity,
            deadline=self.local(self.deadline))


class ImportError_(Exception):
    pass


def read(path: Path) -> list[ForumFile]:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as error:
        raise ImportError_(f"{path}: {error}") from error
    items = data.get("forums") if isinstance(data, dict) else data
    if not isinstance(items, list):
        raise ImportError_(f"{path}: expected a list under `forums:`")
    parsed = []
    for number, item in enumerate(items):
        try:
            parsed.append(ForumFile.model_validate(item))
        except ValidationError as error:
            problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}"
                                 for e in error.errors())
            raise ImportError_(f"{path}: forums[{number}]: {problems}") from error
    return parsed


async def apply(db: AsyncSession, items: list[ForumFile], now: datetime,
                offsets: list[timedelta]) -> list[tuple[str, str]]:
    """Returns (slug, what happened) for each forum."""
    done: list[tuple[str, str]] = []
    for item in items:
        draft = item.draft()
        query = select(Forum).where(Forum.slug == item.slug)
        forum = (await db.execute(query)).scalar_one_or_none()
        try:
            if forum is None:
                forum = await forums.create(db, draft, by=None, now=now)
                outcome = "created"
            else:
                changes = {key: value for key, value in vars(draft).items() if key != "slug"}
                changed = await forums.update_forum(db, forum, changes, now, offsets)
                outcome = f"updated ({', '.join(sorted(changed))})" if changed else "unchanged"
            if forum.status != item.status:
                await forums.set_status(db, forum, ForumStatus(item.status), now)
                outcome += f", {item.status}"
        except forums.ForumError as error:
            raise ImportError_(f"{item.slug}: {error.code}") from error
        done.append((item.slug, outcome))
    return done
