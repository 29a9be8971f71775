"""Settings: the language, announcements on or off (later issues add more)."""

from __future__ import annotations

from bot.core.context import Context
from bot.core.replies import Choice
from bot.core.router import Router
from bot.services import broadcasts
from handlers.common import LANGUAGE_NAMES, menu_button, show_menu
from handlers.payloads import (
    LANGUAGE,
    PRIVACY,
    SETTINGS,
    LanguageScreen,
    MyData,
    ToggleAnnouncements,
)

router = Router("settings")


@router.button(SETTINGS)
async def settings(ctx: Context) -> None:
    if isinstance(ctx.press, ToggleAnnouncements):
        on = not await broadcasts.announcements_on(ctx.db, ctx.user.id)
        await broadcasts.set_announcements(ctx.db, ctx.user.id, on)
    ctx.reset()
    current = LANGUAGE_NAMES[ctx.language]
    on = await broadcasts.announcements_on(ctx.db, ctx.user.id)
    state = ctx._("on") if on else ctx._("off")
    ctx.say(
        ctx._("Settings\n\nLanguage: {language}").format(language=current) + "\n"
        + ctx._("Announcements from the Fund: {state}").format(state=state),
        Choice(ctx._("🌐 Change language"), LANGUAGE.build(LanguageScreen())),
        Choice(ctx._("🔔 Announcements: on") if on else ctx._("🔕 Announcements: off"),
               SETTINGS.build(ToggleAnnouncements())),
        Choice(ctx._("🔒 My data"), PRIVACY.build(MyData())),
        menu_button(ctx),
    )


@router.command("stop")
async def stop(ctx: Context) -> None:
    """`stop` (on WhatsApp also `стоп`, `тоқтату`): no more announcements."""
    await broadcasts.set_announcements(ctx.db, ctx.user.id, False)
    show_menu(ctx, ctx._("Done: you will get no more announcements. To get them again, "
                         "type start or turn them on in Settings."))
