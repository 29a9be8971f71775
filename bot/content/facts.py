"""The one table of facts (facts.yaml): every figure, date and link the texts show,
with its "as of" date in the precision its source gives, and the source it comes from.

Texts never type a figure: they name it by id in a placeholder, filled when the text
is shown. `{id}` is the figure's value, `{id.year}` the year it is for, `{id.date}` its
"as of" date, and `{source.url}` a source's one link. Money in tenge is never stored
when it follows from MRP: it is computed, so the figure changes in one place.

Every figure is written by bot/core/formats.py as the language writes it, with what its
unit needs: a percent sign (`44,5 %`), the tenge sign (`4 325 ₸`), large round counts
in words (`5 million`); counts of people, working days and months come with their noun
in the plural form the number needs (`2 281 people`, `30 working days`), so a text
never types the unit next to the placeholder.
"""

from __future__ import annotations

import re
import string
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    HttpUrl,
    TypeAdapter,
    field_validator,
    model_validator,
)

from bot.core import formats

_LINK: TypeAdapter[HttpUrl] = TypeAdapter(HttpUrl)
_PERIOD = re.compile(r"^(\d{4})(?:-(\d{2})(?:-(\d{2}))?)?$")
_ID = re.compile(r"^[a-z][a-z0-9_]*$")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


@dataclass(frozen=True, order=True)
class Period:
    """An "as of" date as precise as its source: a year, a month or a day."""

    year: int
    month: int | None = None
    day: int | None = None

    @classmethod
    def parse(cls, raw: object) -> Period:
        if isinstance(raw, Period):
            return raw
        if isinstance(raw, date):
            return cls(raw.year, raw.month, raw.day)
        match = _PERIOD.match(str(raw).strip())
        if match is None:
            raise ValueError("must be YYYY, YYYY-MM or YYYY-MM-DD")
        _, month, day = (int(part) if part else None for part in match.groups())
        period = cls(int(match.group(1)), month, day)
        period.first_day  # noqa: B018 - a real date, or ValueError
        return period

    @property
    def first_day(self) -> date:
        return date(self.year, self.month or 1, self.day or 1)

    @property
    def precision(self) -> formats.Precision:
        return "day" if self.day is not None else "month" if self.month is not None else "year"

    def as_of(self, language: str) -> str:
        """As "as of {date}" needs it, as precise as the source (`August 2025`)."""
        return formats.as_of(self.first_day, language, self.precision)


class Source(_Strict):
    """An authority or a document. `url` only when the facts name an official page."""

    url: str | None = None

    @field_validator("url")
    @classmethod
    def _link(cls, value: str | None) -> str | None:
        if value is not None:
            _LINK.validate_python(value)
        return value

    @property
    def host(self) -> str | None:
        return urlsplit(self.url).hostname if self.url else None


# What a figure counts, and so how it is written (`FactTable.values`).
Unit = Literal["count", "people", "working_days", "months", "years", "percent", "mrp",
               "tenge", "year"]
# The units written with their noun; the words are the catalogs' (`Counted`).
COUNTED_UNITS: frozenset[Unit] = frozenset({"people", "working_days", "months"})
# A count with its noun in the plural form it needs: (unit, value) → `2 281 people`.
Counted = Callable[[Unit, float], str]


class Fact(_Strict):
    id: str
    value: float | None = None  # None: a rule or a date the source states
    unit: Unit = "count"
    year: int | None = None  # the year a figure is for, when the text names it
    parts: dict[str, float] = Field(default_factory=dict)  # e.g. a quota by region
    as_of: Period
    source: str
    basis: str = Field(min_length=5)  # where in kandas-facts.md it comes from

    @field_validator("as_of", mode="before")
    @classmethod
    def _period(cls, raw: object) -> Period:
        return Period.parse(raw)

    @field_validator("id")
    @classmethod
    def _id(cls, value: str) -> str:
        if not _ID.match(value):
            raise ValueError("ids are lower-case letters, digits and _")
        return value

    @model_validator(mode="after")
    def _parts_add_up(self) -> Fact:
        if self.parts and self.value != sum(self.parts.values()):
            raise ValueError(f"parts add up to {sum(self.parts.values())}, not {self.value}")
        return self


class FactTable(_Strict):
    sources: dict[str, Source] = Field(min_length=1)
    facts: list[Fact] = Field(min_length=1)

    @model_validator(mode="after")
    def _consistent(self) -> FactTable:
        ids = [fact.id for fact in self.facts]
        if len(set(ids)) != len(ids):
            raise ValueError("fact ids must be unique")
        clash = sorted(set(ids) & set(self.sources))
        if clash:
            raise ValueError(f"ids used both for a fact and a source: {clash}")
        unknown = sorted({fact.source for fact in self.facts} - set(self.sources))
        if unknown:
            raise ValueError(f"facts name unknown sources: {unknown}")
        urls = [str(source.url) for source in self.sources.values() if source.url]
        if len(set(urls)) != len(urls):
            raise ValueError("one link per source: two sources share a link")
        return self

    def fact(self, fact_id: str) -> Fact:
        for fact in self.facts:
            if fact.id == fact_id:
                return fact
        raise KeyError(fact_id)

    def value(self, fact_id: str) -> float:
        value = self.fact(fact_id).value
        if value is None:
            raise KeyError(f"{fact_id} has no value")
        return value

    def keys(self) -> set[str]:
        """Every placeholder the table fills."""
        keys = {f"{source}.url" for source, item in self.sources.items() if item.url}
        for fact in self.facts:
            keys.add(f"{fact.id}.date")
            if fact.value is not None:
                keys.add(fact.id)
            if fact.year is not None:
                keys.add(f"{fact.id}.year")
        return keys

    def values(self, language: str, counted: Counted) -> dict[str, str]:
        """Every placeholder's text in one language; counts with a noun written by
        `counted`, everything else by bot/core/formats.py."""
        filled = {f"{source}.url": str(item.url) for source, item in self.sources.items()
                  if item.url}
        for fact in self.facts:
            filled[f"{fact.id}.date"] = fact.as_of.as_of(language)
            if fact.value is not None:
                filled[fact.id] = written(fact.unit, fact.value, language, counted)
            if fact.year is not None:
                filled[f"{fact.id}.year"] = str(fact.year)
        return filled

    def source_of(self, fact_ids: Iterable[str]) -> list[tuple[str, Period]]:
        """The sources behind these facts, each with its newest "as of", in order."""
        newest: dict[str, Period] = {}
        for fact_id in fact_ids:
            fact = self.fact(fact_id)
            newest[fact.source] = max(newest.get(fact.source, fact.as_of), fact.as_of)
        return list(newest.items())


def written(unit: Unit, value: float, language: str, counted: Counted) -> str:
    """A figure as the language writes it, with what its unit needs."""
    if unit in COUNTED_UNITS:
        return counted(unit, value)
    if unit == "year":
        return str(int(value))
    if unit == "percent":
        return formats.percent(value / 100, language)
    if unit == "tenge":
        return formats.money(value, language)
    if unit in ("mrp", "years"):
        return formats.number(value, language)
    return formats.count(value, language)


def not_blank(value: str) -> str:
    """A text's validator: not empty, without the spaces around it."""
    if not value.strip():
        raise ValueError("must not be empty")
    return value.strip()


def placeholders(text: str) -> set[str]:
    """The placeholder names a text uses (`{a}`, `{a.year}`)."""
    return {name for _, name, _, _ in string.Formatter().parse(text) if name is not None}


def fact_ids(text: str, table: FactTable) -> list[str]:
    """The facts a text names, in order of first use."""
    ids: list[str] = []
    for name in _ordered_placeholders(text):
        base = name.split(".")[0]
        if base not in ids and any(fact.id == base for fact in table.facts):
            ids.append(base)
    return ids


def _ordered_placeholders(text: str) -> list[str]:
    return [name for _, name, _, _ in string.Formatter().parse(text) if name]


class _Filler(string.Formatter):
    """Looks a whole field name up (`kandas_2025.year` is one key), never an attribute."""

    def get_field(self, field_name: str, args: Any, kwargs: Any) -> tuple[Any, str]:
        return kwargs[field_name], field_name


def fill(text: str, values: Mapping[str, str], **extra: object) -> str:
    return _Filler().vformat(text, (), {**values, **extra})


def unknown_placeholders(text: str, table_keys: set[str], allowed: Iterable[str] = ()) -> set[str]:
    return placeholders(text) - table_keys - set(allowed)
