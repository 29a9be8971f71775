"""The main menu, help, cancel, and what happens with input the bot did not expect
(typed text where no step waits for it is a question: handlers/faq.py)."""

from __future__ import annotations

from bot.core.context import Context
from bot.core.router import Router
from handlers.common import menu_button, show_menu, show_stale
from handlers.payloads import HELP, MENU

router = Router("menu")


@router.command("menu")
@router.button(MENU)
async def menu(ctx: Context) -> None:
    show_menu(ctx)


@router.command("cancel")
async def cancel(ctx: Context) -> None:
    had_step = ctx.state is not None
    lead = ctx._("Cancelled. Nothing was saved.") if had_step else ctx._("Nothing to cancel.")
    show_menu(ctx, lead)


def help_text(ctx: Context) -> str:
    return "\n".join(
        [
            ctx._("I am the assistant of the Otandastar Fund for Kazakhs abroad."),
            "",
            ctx._("Commands that work at any moment:"),
            ctx._("/start: greeting and the main menu"),
            ctx._("/menu: back to the main menu"),
            ctx._("/language: change the language"),
            ctx._("/help: this help"),
            ctx._("/cancel: stop what you are doing and go back to the menu"),
            ctx._("/mydata: everything I store about you; /forgetme: delete it"),
            "",
            ctx._("Choose an item with the buttons under my messages."),
        ]
    )


@router.command("help")
@router.button(HELP)
async def help_screen(ctx: Context) -> None:
    ctx.say(help_text(ctx), menu_button(ctx))


@router.fallback("stale")
async def stale_button(ctx: Context) -> None:
    show_stale(ctx)


@router.fallback("unsupported")
async def unsupported(ctx: Context) -> None:
    if ctx.state is not None:
        # In the middle of a step (a registration, a question): keep what was given.
        ctx.say(ctx._("I can only read text and buttons here. Please answer the question "
                      "above, or type /cancel to stop."))
        return
    show_menu(ctx, ctx._("I can only read text and buttons for now. Please choose an item "
                         "from the menu."))


@router.fallback("contact")
async def unexpected_contact(ctx: Context) -> None:
    """A phone number shared where no step asked for one."""
    show_menu(ctx, ctx._("I can only read text and buttons for now. Please choose an item "
                         "from the menu."))


@router.fallback("unknown_command")
async def unknown_command(ctx: Context) -> None:
    show_menu(ctx, ctx._("I do not know that command. Type /help to see what I can do."))
