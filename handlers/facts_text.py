"""Content texts with their figures filled in from the one table of facts
(`bot/content/facts.yaml`), and the source line that says where they come from.

Every figure is written by bot/core/formats.py; counts of people, working days and
months with their noun, in the plural form the number needs (the catalogs' words)."""

from __future__ import annotations

from collections.abc import Iterable

from bot.content.facts import Counted, Period, Unit, fact_ids
from bot.content.facts import fill as fill_in
from bot.core import formats
from bot.core.context import Context
from bot.core.i18n import Translator

_VALUES: dict[tuple[int, str], dict[str, str]] = {}


def people(t: Translator, count: float) -> str:
    """`1 person`, `3 people`, `2 281 people`."""
    return t.ngettext("{count} person", "{count} people", int(count)).format(
        count=formats.count(count, t.locale))


def working_days(t: Translator, count: float) -> str:
    return t.ngettext("{count} working day", "{count} working days", int(count)).format(
        count=formats.count(count, t.locale))


def months(t: Translator, count: float) -> str:
    return t.ngettext("{count} month", "{count} months", int(count)).format(
        count=formats.count(count, t.locale))


def counted(t: Translator) -> Counted:
    """How the facts table writes a count with its noun in `t`'s language."""
    nouns = {"people": people, "working_days": working_days, "months": months}

    def write(unit: Unit, value: float) -> str:
        return nouns[unit](t, value)

    return write


def values(ctx: Context) -> dict[str, str]:
    """Every fact's placeholder in the user's language; the table is fixed while the bot
    runs, so this is built once per language."""
    key = (id(ctx.content.facts), ctx.language)
    if key not in _VALUES:
        _VALUES[key] = ctx.content.facts.values(ctx.language, counted(ctx.t))
    return _VALUES[key]


def fill(ctx: Context, text: str, **extra: object) -> str:
    return fill_in(text, values(ctx), **extra)


def named(ctx: Context, *texts: str) -> list[str]:
    """The facts these texts name, in order."""
    found: list[str] = []
    for text in texts:
        found += [fid for fid in fact_ids(text, ctx.content.facts) if fid not in found]
    return found


def source_name(ctx: Context, source: str) -> str:
    """A source's name, with its one link when it has one."""
    name = ctx.content.source_names[ctx.language][source]
    link = ctx.content.facts.sources[source]
    if link.url is None:
        return name
    return link.url if link.host == name else f"{name}, {link.url}"


def source_item(ctx: Context, source: str, as_of: Period) -> str:
    """A source with the date its figures are as of: `egov.kz (as of August 2025)`."""
    return ctx._("{source} (as of {date})").format(source=source_name(ctx, source),
                                                   date=as_of.as_of(ctx.language))


def sources(ctx: Context, facts: Iterable[str]) -> str:
    """One line: the sources of these facts, each with its newest "as of" date."""
    items = [source_item(ctx, source, period)
             for source, period in ctx.content.facts.source_of(facts)]
    line = ctx.t.ngettext("Source: {sources}", "Sources: {sources}", len(items))
    return "📎 " + line.format(sources="; ".join(items))
