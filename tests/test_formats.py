"""Numbers, money and dates as each language writes them (bot/core/formats.py)."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest
from babel.dates import get_month_names

from bot.core import formats

NB = "\u00a0"  # no-break space, as CLDR and the money patterns put it
NNB = "\u202f"  # narrow no-break space


@pytest.mark.parametrize(("language", "expected"), [
    ("kk", f"1{NB}211{NB}000{NB}₸"), ("ru", f"1{NB}211{NB}000{NB}₸"),
    ("en", f"KZT{NB}1,211,000"),
])
def test_money(language: str, expected: str) -> None:
    assert formats.money(1_211_000, language) == expected


@pytest.mark.parametrize(("language", "expected"), [
    ("kk", (f"64{NB}875", f"129{NB}750{NB}₸")), ("ru", (f"64{NB}875", f"129{NB}750{NB}₸")),
    ("en", (f"KZT{NB}64,875", "129,750")),
])
def test_a_range_of_money_has_its_sign_once(language: str, expected: tuple[str, str]) -> None:
    assert formats.money_range(64_875, 129_750, language) == expected


def test_money_is_whole_tenge() -> None:
    assert formats.money(4325.4, "ru") == f"4{NB}325{NB}₸"


@pytest.mark.parametrize(("language", "five", "one_and_a_half", "exact"), [
    ("kk", "5 миллион", "1,5 миллион", f"1{NB}164{NB}800"),
    ("ru", f"5{NB}млн", f"1,5{NB}млн", f"1{NB}164{NB}800"),
    ("en", "5 million", "1.5 million", "1,164,800"),
])
def test_large_counts(language: str, five: str, one_and_a_half: str, exact: str) -> None:
    assert formats.count(5_000_000, language) == five
    assert formats.count(1_500_000, language) == one_and_a_half
    assert formats.count(1_164_800, language) == exact  # not round: in full
    assert formats.count(16_805, language) == formats.number(16_805, language)


@pytest.mark.parametrize(("language", "expected"), [
    ("kk", "44,5%"), ("ru", f"44,5{NB}%"), ("en", "44.5%"),
])
def test_percent(language: str, expected: str) -> None:
    assert formats.percent(0.445, language) == expected
    assert formats.percent(0.04, language) == expected.replace("44,5", "4").replace("44.5", "4")


@pytest.mark.parametrize(("language", "expected"), [
    ("kk", "2026 жылғы 1 желтоқсан"), ("ru", f"1 декабря 2026{NNB}г."),
    ("en", "December 1, 2026"),
])
def test_dates(language: str, expected: str) -> None:
    assert formats.date(date(2026, 12, 1), language) == expected


@pytest.mark.parametrize(("language", "expected"), [
    ("kk", "2026 жылғы 1 қаңтардағы"), ("ru", f"1 января 2026{NNB}г."),
    ("en", "January 1, 2026"),
])
def test_as_of_dates(language: str, expected: str) -> None:
    assert formats.date_as_of(date(2026, 1, 1), language) == expected


@pytest.mark.parametrize(("language", "year", "month", "day"), [
    ("kk", "2025 жылғы", "2025 жылғы тамыздағы", "2025 жылғы 10 тамыздағы"),
    ("ru", f"2025{NNB}г.", f"август 2025{NNB}г.", f"10 августа 2025{NNB}г."),
    ("en", "2025", "August 2025", "August 10, 2025"),
])
def test_as_of_as_precise_as_the_source(language: str, year: str, month: str,
                                        day: str) -> None:
    value = date(2025, 8, 10)
    assert [formats.as_of(value, language, "year"), formats.as_of(value, language, "month"),
            formats.as_of(value, language)] == [year, month, day]


@pytest.mark.parametrize(("language", "expected"), [
    ("kk", "2025 жылғы тамыз"), ("ru", f"август 2025{NNB}г."), ("en", "August 2025"),
])
def test_a_month_of_a_year(language: str, expected: str) -> None:
    assert formats.month(date(2025, 8, 10), language) == expected


def test_every_kazakh_month_has_its_locative() -> None:
    names = get_month_names("wide", "format", locale="kk")
    for month in range(1, 13):
        at = formats.date_as_of(date(2026, month, 5), "kk")
        stem = names[month]
        assert at.startswith(f"2026 жылғы 5 {stem}"), at
        assert at.endswith(("дағы", "дегі", "тағы", "тегі")), at


@pytest.mark.parametrize(("language", "expected"), [
    ("kk", "12 наурыз"), ("ru", "12 марта"), ("en", "March 12"),
])
def test_day_and_month(language: str, expected: str) -> None:
    assert formats.day(date(2027, 3, 12), language) == expected


BERLIN = ZoneInfo("Europe/Berlin")


@pytest.mark.parametrize(("language", "expected"), [
    ("kk", "2027 жылғы 12 наурыз, 10:00–18:00"),
    ("ru", f"12 марта 2027{NNB}г., 10:00–18:00"),
    ("en", f"March 12, 2027, 10:00{NNB}AM–6:00{NNB}PM"),
])
def test_a_span_on_one_day(language: str, expected: str) -> None:
    start = datetime(2027, 3, 12, 10, tzinfo=BERLIN)
    assert formats.time_span(start, start.replace(hour=18), language) == expected


def test_a_span_over_days_names_both_days() -> None:
    start = datetime(2027, 3, 12, 10, tzinfo=BERLIN)
    assert formats.time_span(start, start.replace(day=13, hour=16), "kk") == (
        "2027 жылғы 12 наурыз, 10:00 – 2027 жылғы 13 наурыз, 16:00")


@pytest.mark.parametrize(("zone", "moment", "expected"), [
    ("Europe/Berlin", datetime(2027, 3, 12, 10), "UTC+1"),
    ("Europe/Berlin", datetime(2027, 7, 12, 10), "UTC+2"),
    ("Asia/Almaty", datetime(2027, 3, 12, 10), "UTC+5"),
    ("Asia/Kolkata", datetime(2027, 3, 12, 10), "UTC+5:30"),
    ("America/Sao_Paulo", datetime(2027, 3, 12, 10), "UTC\u22123"),
    ("UTC", datetime(2027, 3, 12, 10), "UTC"),
])
def test_utc_offset(zone: str, moment: datetime, expected: str) -> None:
    assert formats.utc_offset(moment.replace(tzinfo=ZoneInfo(zone))) == expected
