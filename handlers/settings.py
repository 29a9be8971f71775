"""Settings: the language (later issues add more)."""

from __future__ import annotations

from bot.core.context import Context
from bot.core.replies import Choice
from bot.core.router import Router
from handlers.common import LANGUAGE_NAMES, menu_button

router = Router("settings")


@router.button("set")
async def settings(ctx: Context) -> None:
    ctx.reset()
    ctx.data["screen"] = "set"
    current = LANGUAGE_NAMES[ctx.language]
    ctx.say(
        ctx._("Settings\n\nLanguage: {language}").format(language=current),
        Choice(ctx._("🌐 Change language"), "language"),
        Choice(ctx._("🔒 My data"), "pv"),
        menu_button(ctx),
    )
