"""Time, one set of helpers for the whole bot: the current moment, and datetimes made
aware and in UTC (SQLite hands them back naive; PostgreSQL in the session's zone).

A module of its own at the top of the package, below every layer: the models, the
core, the services, the channels and the flows all use it."""

from __future__ import annotations

from datetime import UTC, datetime


def now() -> datetime:
    """The current moment, aware, in UTC."""
    return datetime.now(UTC)


def as_utc(value: datetime) -> datetime:
    """The same moment, aware and in UTC; a naive value is taken to be UTC already."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def iso(value: datetime | None) -> str | None:
    """ISO 8601 in UTC (`2027-03-12T09:00:00+00:00`), or None."""
    return None if value is None else as_utc(value).isoformat()
