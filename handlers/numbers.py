"""Kazakhs abroad in numbers: each figure with its year, "as of" date and source."""

from __future__ import annotations

from bot.core import formats
from bot.core.context import Context
from bot.core.router import Router
from handlers.common import menu_button
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
    numbers = ctx.content.numbers[language]
    texts = ctx.content.figure_texts[language]
    lines = [numbers.title, "", numbers.intro]
    for figure in ctx.content.figures:
        text = texts[figure.id]
        value = formats.count(figure.value, language)
        as_of = formats.date_as_of(figure.as_of, language)
        source = ctx._("as of {date}; source: {source}, {url}").format(
            date=as_of, source=text.source, url=figure.source_url
        )
        lines += ["", "• " + text.text.format(value=value), f"  ({source})"]
    return "\n".join(lines)


@router.button(NUMBERS)
async def numbers(ctx: Context) -> None:
    ctx.reset()
    ctx.say(figures_text(ctx), menu_button(ctx))
