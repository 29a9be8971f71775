"""The audit log: every change a coordinator makes, in the bot or in the dashboard, is
one row written by `record` in the same transaction as the change (who, what, when, the
fields before and after). The services coordinators use call it, so neither the flows
nor the dashboard can change something without a line here."""

from __future__ import annotations

from datetime import date, datetime
from enum import Enum
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.clock import iso, now
from bot.db.models import AuditEntry
from bot.db.paging import Page, fetch_page

VALUE_LIMIT = 300  # characters of one field's value kept in the log


def _plain(value: Any) -> Any:
    """A value as JSON holds it: dates in ISO 8601, long texts cut."""
    if isinstance(value, datetime):
        return iso(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, dict):
        return {str(key): _plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    if isinstance(value, str) and len(value) > VALUE_LIMIT:
        return value[:VALUE_LIMIT] + "…"
    if isinstance(value, bytes):
        return f"<{len(value)} bytes>"
    return value


def snapshot(thing: object, fields: list[str] | tuple[str, ...] | set[str]) -> dict[str, Any]:
    """The named fields of a row, as the log keeps them."""
    return {name: _plain(getattr(thing, name)) for name in sorted(fields)}


async def record(db: AsyncSession, actor_id: int | None, action: str, subject: str,
                 subject_id: int | None, *, before: dict[str, Any] | None = None,
                 after: dict[str, Any] | None = None, at: datetime | None = None) -> None:
    """One change: `actor_id` (users.id) did `action` ("forum.publish") to `subject`
    ("forum") number `subject_id`."""
    db.add(AuditEntry(actor_id=actor_id or None, action=action, subject=subject,
                      subject_id=subject_id, before=_plain(before) if before else None,
                      after=_plain(after) if after else None, at=at or now()))


async def listing(db: AsyncSession, page: int, size: int,
                  subject: str | None = None) -> tuple[list[AuditEntry], Page]:
    """The latest changes first, a page at a time."""
    query = select(AuditEntry).order_by(AuditEntry.at.desc(), AuditEntry.id.desc())
    if subject:
        query = query.where(AuditEntry.subject == subject)
    return await fetch_page(db, query, page, size)
