"""Numbers, money and dates as each language writes them: the one place that formats
them for a reader (exports and typed input keep ISO forms).

Babel (CLDR) does the work; where CLDR's default is not what a native writer uses, the
pattern for that language is set here:

- money: `1 211 000 ₸` in Kazakh and Russian, `KZT 1,211,000` in English;
- large round counts: `5 миллион` (kk), `5 млн` (ru), `5 million` (en); other counts in
  full (`1 164 800`);
- percent: CLDR's style (`44,5%` kk, `44,5 %` ru, `44.5%` en);
- dates: `2026 жылғы 1 желтоқсан` (kk), `1 декабря 2026 г.` (ru), `December 1, 2026`
  (en); with a time the locale's clock (`10:00`, `10:00 AM`);
- "as of" dates as precise as their source: a year, a month or a day (`2025 жылғы
  тамыздағы`, `август 2025 г.`, `August 2025`);
- a forum's time with its UTC offset (`UTC+1`), never a tz-database id.

Kazakh in Latin (`kk-Latn`) and tote (`kk-Arab`) has no CLDR data of its own: it is
formatted as Kazakh (`kk`) and the result written in the locale's script
(`2026 jylğy 1 jeltoqsan`; in tote the digits isolated, left to right).
"""

from __future__ import annotations

import inspect
from datetime import date as Date
from datetime import datetime as DateTime
from datetime import timedelta
from functools import wraps
from typing import Any, Literal, TypeVar

from babel.dates import format_date, format_skeleton, format_time
from babel.numbers import format_compact_decimal, format_decimal, format_percent

from bot.core import scripts

NBSP = "\u00a0"

# The sign after the amount (kk, ru) or the code before it (en).
_MONEY = {"kk": f"#,##0{NBSP}'₸'", "ru": f"#,##0{NBSP}'₸'", "en": f"'KZT'{NBSP}#,##0"}
_MONEY_SIGN_FIRST = {"en"}

# Large round counts: the long word in Kazakh and English (`миллион`, `million`, which
# a Kazakh text declines: `1,9 миллионға`), the short one in Russian (`млн`).
_COMPACT = {"kk": "long", "ru": "short", "en": "long"}
_COMPACT_FROM = 1_000_000
_COMPACT_STEP = 100_000  # 1,5 млн; 1 164 800 stays in full

# Dates: CLDR's long date, except Kazakh, which writes `2026 жылғы 1 желтоқсан`
# (CLDR: `2026 ж. 1 желтоқсан`).
_DATE = {"kk": "y 'жылғы' d MMMM"}

# A month of a year: Kazakh as its dates (CLDR: `2025 ж. тамыз`), elsewhere CLDR's.
_MONTH = {"kk": "y 'жылғы' MMMM"}

# A Kazakh date before a noun takes the locative attributive suffix:
# `2026 жылғы 1 қаңтардағы жағдай бойынша` ("as of 1 January 2026").
_KK_MONTH_AT = {
    1: "қаңтардағы", 2: "ақпандағы", 3: "наурыздағы", 4: "сәуірдегі", 5: "мамырдағы",
    6: "маусымдағы", 7: "шілдедегі", 8: "тамыздағы", 9: "қыркүйектегі", 10: "қазандағы",
    11: "қарашадағы", 12: "желтоқсандағы",
}


def _language(locale: str) -> str:
    return locale.replace("-", "_").split("_", 1)[0]


Formatter = TypeVar("Formatter", bound=Any)


def _in_script(formatter: Formatter) -> Formatter:
    """A formatter that also takes the derived locales: it formats as their source
    locale (kk) and writes the result in the locale's script."""
    index = list(inspect.signature(formatter).parameters).index("locale")

    @wraps(formatter)
    def written(*args: Any, **kwargs: Any) -> Any:
        given = list(args)
        locale = kwargs["locale"] if "locale" in kwargs else given[index]
        if locale not in scripts.DERIVED:
            return formatter(*args, **kwargs)
        if "locale" in kwargs:
            kwargs["locale"] = scripts.source(locale)
        else:
            given[index] = scripts.source(locale)
        result = formatter(*given, **kwargs)
        if isinstance(result, tuple):
            return tuple(scripts.write(part, locale) for part in result)
        return scripts.write(result, locale)
    return written  # type: ignore[return-value]


@_in_script
def number(value: float, locale: str) -> str:
    """A plain number: `1 164 800`, `1,164,800`, `4 325,5`."""
    return format_decimal(value, locale=locale)


@_in_script
def count(value: float, locale: str) -> str:
    """How many people or things: round millions in words (`5 млн`, `1.5 million`),
    everything else in full."""
    if abs(value) >= _COMPACT_FROM and value % _COMPACT_STEP == 0:
        style = _COMPACT.get(_language(locale), "long")
        return format_compact_decimal(value, format_type=style,  # type: ignore[arg-type]
                                      locale=locale, fraction_digits=1)
    return number(value, locale)


@_in_script
def money(value: float, locale: str) -> str:
    """Tenge, whole: `908 250 ₸`, `KZT 908,250`."""
    pattern = _MONEY.get(_language(locale), _MONEY["ru"])
    return format_decimal(round(value), pattern, locale=locale)


@_in_script
def money_range(low: float, high: float, locale: str) -> tuple[str, str]:
    """Both ends of a range of tenge, to be joined by a dash: the sign is written once,
    where the language puts it (`64 875–129 750 ₸`, `KZT 64,875–129,750`)."""
    if _language(locale) in _MONEY_SIGN_FIRST:
        return money(low, locale), number(round(high), locale)
    return number(round(low), locale), money(high, locale)


@_in_script
def percent(fraction: float, locale: str) -> str:
    """A share (0.445) as a percentage: `44,5%`, `44,5 %`, `44.5%`."""
    # The locale's pattern, with as many decimals as the figure has (44,5 %; 4 %).
    return format_percent(round(fraction, 4), locale=locale, decimal_quantization=False)


@_in_script
def date(value: Date, locale: str) -> str:
    """A day: `2026 жылғы 1 желтоқсан`, `1 декабря 2026 г.`, `December 1, 2026`."""
    pattern = _DATE.get(_language(locale), "long")
    return format_date(value, pattern, locale=locale)


@_in_script
def date_as_of(value: Date, locale: str) -> str:
    """A day as "as of {date}" needs it: in Kazakh with the locative suffix
    (`2026 жылғы 1 қаңтардағы`), elsewhere as `date`."""
    if _language(locale) == "kk":
        return f"{value.year} жылғы {value.day} {_KK_MONTH_AT[value.month]}"
    return date(value, locale)


@_in_script
def month(value: Date, locale: str) -> str:
    """A month of a year: `2025 жылғы тамыз`, `август 2025 г.`, `August 2025`."""
    pattern = _MONTH.get(_language(locale))
    if pattern is not None:
        return format_date(value, pattern, locale=locale)
    return format_skeleton("yMMMM", value, locale=locale)


Precision = Literal["year", "month", "day"]


@_in_script
def as_of(value: Date, locale: str, precision: Precision = "day") -> str:
    """A date as "as of {date}" needs it, as precise as its source: a year (`2025`;
    `2025 г.`; `2025 жылғы`), a month (`August 2025`; `2025 жылғы тамыздағы`) or a day
    (`date_as_of`)."""
    language = _language(locale)
    if precision == "day":
        return date_as_of(value, locale)
    if precision == "month":
        if language == "kk":
            return f"{value.year} жылғы {_KK_MONTH_AT[value.month]}"
        return month(value, locale)
    return {"kk": f"{value.year} жылғы", "ru": f"{value.year}\u202fг."}.get(
        language, str(value.year))


@_in_script
def day(value: Date, locale: str) -> str:
    """Day and month, for short labels: `12 наурыз`, `12 марта`, `March 12`."""
    return format_skeleton("MMMMd", value, locale=locale)


@_in_script
def time(value: DateTime, locale: str) -> str:
    """The locale's clock: `10:00`, `10:00 AM`."""
    return format_time(value, "short", locale=locale)


@_in_script
def date_time(value: DateTime, locale: str) -> str:
    """A day and a time: `2027 жылғы 12 наурыз, 10:00`, `March 12, 2027, 10:00 AM`."""
    return f"{date(value, locale)}, {time(value, locale)}"


@_in_script
def time_span(start: DateTime, end: DateTime, locale: str) -> str:
    """From start to end; the day once when both are on the same day."""
    if start.date() == end.date():
        return f"{date_time(start, locale)}–{time(end, locale)}"
    return f"{date_time(start, locale)} – {date_time(end, locale)}"


def utc_offset(value: DateTime) -> str:
    """The offset of an aware time: `UTC+5`, `UTC+5:30`, `UTC−3`, `UTC`."""
    offset = value.utcoffset() or timedelta(0)
    minutes = int(offset.total_seconds() // 60)
    if minutes == 0:
        return "UTC"
    sign = "+" if minutes > 0 else "\u2212"
    hours, rest = divmod(abs(minutes), 60)
    return f"UTC{sign}{hours}" + (f":{rest:02d}" if rest else "")
