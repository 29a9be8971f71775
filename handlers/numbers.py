"""Kazakhs abroad in numbers: the figures of the facts table, grouped by source, each
source with its newest "as of" date (the lines name the year a figure is for)."""

from __future__ import annotations

from bot.core.context import Context
from bot.core.router import Router
from handlers.common import menu_button
from handlers.facts_text import fill, named, source_item
from handlers.payloads import NUMBERS

router = Router("numbers")


_CACHE: dict[tuple[int, str], str] = {}


def figures_text(ctx: Context) -> str:
    """The figures screen; content is fixed while the bot runs, so it is built once."""
    key = (id(ctx.content), ctx.language)
    if key not in _CACHE:
        _CACHE[key] = _build(ctx)
    return _CACHE[key]


def _build(ctx: Context) -> str:
    language = ctx.language
    table = ctx.content.facts
    numbers = ctx.content.numbers[language]
    groups: dict[str, list[str]] = {}
    facts: dict[str, list[str]] = {}
    for line_id in ctx.content.number_lines:
        text = ctx.content.figure_texts[language][line_id].text
        [(source, _), *_] = table.source_of(named(ctx, text))
        groups.setdefault(source, []).append(f"• {fill(ctx, text)}")
        facts.setdefault(source, []).extend(named(ctx, text))
    lines = [numbers.title, "", numbers.intro]
    for source, items in groups.items():
        as_of = dict(table.source_of(facts[source]))[source]
        lines += ["", "📎 " + source_item(ctx, source, as_of), *items]
    return "\n".join(lines)


@router.button(NUMBERS)
async def numbers(ctx: Context) -> None:
    ctx.reset()
    ctx.say(figures_text(ctx), menu_button(ctx))
