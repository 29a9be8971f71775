"""Forums from a YAML file (`python -m bot forums import FILE`): created, or updated by
slug (people registered hear about changed times and places)."""

from __future__ import annotations

import os
import stat
from datetime import datetime, timedelta
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo

import yaml
from babel import Locale
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
)
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot import LANGUAGES
from bot.db.models import Forum, ForumStatus
from bot.services import forums

# A file's bounds: its size, the forums in it (the texts' are `forums.TEXT_LIMITS`).
MAX_FILE_BYTES = 1_000_000
MAX_FORUMS = 200


class ForumFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    slug: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{1,62}$")
    title: dict[str, str]
    description: dict[str, str]
    country: str
    # The same in every language (a string), or one per language.
    city: dict[str, str]
    venue: dict[str, str]
    timezone: str = Field(max_length=64)
    starts: datetime
    ends: datetime
    deadline: datetime
    language: Literal["kk", "ru", "en"]
    capacity: int = Field(ge=1, le=forums.MAX_CAPACITY)
    status: Literal["draft", "published", "closed", "cancelled"] = "draft"

    @field_validator("city", "venue", mode="before")
    @classmethod
    def _same_everywhere(cls, value: object) -> object:
        if isinstance(value, str) and value.strip():
            return {language: value.strip() for language in LANGUAGES}
        return value

    @field_validator("title", "description", "city", "venue")
    @classmethod
    def _three_languages(cls, value: dict[str, str], info: ValidationInfo) -> dict[str, str]:
        unknown = sorted(set(value) - set(LANGUAGES))
        if unknown:
            raise ValueError(f"unknown languages: {', '.join(unknown)} "
                             f"(the languages are {', '.join(LANGUAGES)})")
        missing = [language for language in LANGUAGES if not value.get(language, "").strip()]
        if missing:
            raise ValueError(f"missing languages: {', '.join(missing)}")
        limit = forums.TEXT_LIMITS[str(info.field_name)]
        long = [language for language in LANGUAGES if len(value[language].strip()) > limit]
        if long:
            raise ValueError(f"longer than {limit} characters in: {', '.join(long)}")
        return {language: value[language].strip() for language in LANGUAGES}

    @field_validator("country")
    @classmethod
    def _country(cls, value: str) -> str:
        if not (len(value) == 2 and value.isascii() and value.isalpha()
                and value.upper() in Locale("en").territories):
            raise ValueError(f"unknown country code {value[:10]!r} (a two-letter code like DE)")
        return value.upper()

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        if not forums.known_zone(value):
            raise ValueError(f"unknown time zone {value!r} (a zone looks like Europe/Berlin)")
        return value

    @field_validator("starts", "ends", "deadline")
    @classmethod
    def _year(cls, value: datetime) -> datetime:
        if value.year not in forums.YEARS:
            raise ValueError(f"the year must be {forums.YEARS[0]} to {forums.YEARS[-1]}")
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
    """The file cannot be imported; the message names the file, the forum and the field."""


def read_bytes(path: Path, limit: int = MAX_FILE_BYTES) -> bytes:
    """A regular file's bytes, at most `limit`: a FIFO, a device (`/dev/zero`) or a
    directory is refused without waiting for it or reading it."""
    try:
        # Non-blocking, so that opening a FIFO returns at once instead of waiting.
        descriptor = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except OSError as error:
        raise ImportError_(f"{path}: cannot open it: {error.strerror}") from error
    try:
        if not stat.S_ISREG(os.fstat(descriptor).st_mode):
            raise ImportError_(f"{path}: not a regular file")
        with os.fdopen(descriptor, "rb", closefd=False) as file:
            data = file.read(limit + 1)
    except OSError as error:
        raise ImportError_(f"{path}: cannot read it: {error.strerror}") from error
    finally:
        os.close(descriptor)
    if len(data) > limit:
        raise ImportError_(f"{path}: larger than {limit:,} bytes")
    return data


# What a rule's code means, for the person who wrote the file.
PROBLEMS = {
    "ends_before_start": "ends: must be after starts",
    "deadline_after_start": "deadline: must not be after starts",
    "bad_capacity": f"capacity: must be 1 to {forums.MAX_CAPACITY:,}",
    "capacity_below_confirmed": "capacity: fewer seats than people confirmed already",
    "bad_timezone": "timezone: unknown time zone",
    "bad_date": "a date is out of range",
}


def _yaml_problem(error: yaml.YAMLError) -> str:
    """What PyYAML found wrong, in one line, with where."""
    mark = getattr(error, "problem_mark", None)
    problem = getattr(error, "problem", None) or str(error)
    where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
    return where + " ".join(str(problem).split())[:200]


def read(path: Path) -> list[ForumFile]:
    raw = read_bytes(path)
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise ImportError_(f"{path}: not UTF-8 text (byte {error.start:,}); save it as "
                           "UTF-8") from error
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise ImportError_(f"{path}: not valid YAML: {_yaml_problem(error)}") from error
    except RecursionError as error:
        raise ImportError_(f"{path}: nested too deeply") from error
    items = data.get("forums") if isinstance(data, dict) else data
    if not isinstance(items, list):
        raise ImportError_(f"{path}: expected a list under `forums:`")
    if len(items) > MAX_FORUMS:
        raise ImportError_(f"{path}: {len(items):,} forums; at most {MAX_FORUMS} in one file")
    parsed: list[ForumFile] = []
    seen: dict[str, int] = {}
    for number, item in enumerate(items, 1):
        where = f"{path}: forum {number}"
        slug = item.get("slug") if isinstance(item, dict) else None
        if isinstance(slug, str) and len(slug) <= 64:
            where += f" ({slug})"
        try:
            forum = ForumFile.model_validate(item)
        except ValidationError as error:
            problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'forum'}: "
                                 f"{e['msg'].removeprefix('Value error, ')}"
                                 for e in error.errors())
            raise ImportError_(f"{where}: {problems}") from error
        try:
            forums.check_draft(forum.draft())
        except forums.ForumError as error:
            raise ImportError_(f"{where}: {PROBLEMS.get(error.code, error.code)}") from error
        if forum.slug in seen:
            raise ImportError_(f"{where}: slug: the same as forum {seen[forum.slug]}")
        seen[forum.slug] = number
        parsed.append(forum)
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
            problem = PROBLEMS.get(error.code, error.code)
            if error.code == "bad_status" and forum is not None:
                problem = f"status: a {forum.status} forum cannot become {item.status}"
            raise ImportError_(f"forum {item.slug}: {problem}") from error
        done.append((item.slug, outcome))
    return done
