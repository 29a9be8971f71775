"""One set of time helpers: aware, in UTC."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from bot.clock import as_utc, iso, now


def test_everything_comes_back_aware_in_utc() -> None:
    assert now().tzinfo is UTC
    naive = datetime(2027, 3, 12, 9, 0)
    assert as_utc(naive) == datetime(2027, 3, 12, 9, 0, tzinfo=UTC)
    almaty = datetime(2027, 3, 12, 14, 0, tzinfo=timezone(timedelta(hours=5)))
    assert as_utc(almaty).tzinfo is UTC and as_utc(almaty).hour == 9
    assert iso(almaty) == "2027-03-12T09:00:00+00:00"
    assert iso(naive) == "2027-03-12T09:00:00+00:00"
    assert iso(None) is None
