"""Privacy: `/mydata` sends everything stored about the user, `/forgetme` deletes it
after a confirmation."""

from __future__ import annotations

from bot.core.context import Context
from bot.core.replies import Attachment, Choice
from bot.core.router import Router
from bot.services import privacy
from handlers.common import menu_button
from handlers.payloads import MENU, PRIVACY, ForgetAsk, ForgetConfirmed, Menu

router = Router("privacy")


@router.command("mydata")
@router.button(PRIVACY)
async def privacy_screen(ctx: Context) -> None:
    if isinstance(ctx.press, ForgetAsk):
        await forget_ask(ctx)
        return
    if isinstance(ctx.press, ForgetConfirmed):
        await privacy.forget(ctx.db, ctx.user.id, ctx.settings.reminder_offsets)
        ctx.forget()
        ctx.say(ctx._("Done: everything I stored about you is deleted. If you write to me "
                      "again, we will start from the beginning."))
        return
    data = await privacy.export(ctx.db, ctx.user.id)
    ctx.say(
        ctx._("Here is everything I store about you, as a file. I use it only to answer you "
              "and to keep your progress."),
        Choice(ctx._("🗑 Delete my data"), PRIVACY.build(ForgetAsk())),
        menu_button(ctx),
        attachment=Attachment("my-data.json", privacy.export_json(data), "application/json"),
    )


@router.command("forgetme")
async def forget_ask(ctx: Context) -> None:
    ctx.reset()
    ctx.say(
        ctx._("Delete everything I store about you: your language, your answers and "
              "results, your forum registrations (their seats go to the next in line)? "
              "This cannot be undone."),
        Choice(ctx._("🗑 Yes, delete everything"), PRIVACY.build(ForgetConfirmed())),
        Choice(ctx._("No, keep it"), MENU.build(Menu())),
    )
