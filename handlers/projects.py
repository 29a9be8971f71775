"""The Otandastar Fund's support projects, from the content files."""

from __future__ import annotations

from bot.core.context import Context
from bot.core.replies import Choice
from bot.core.router import Router
from handlers.common import menu_button, show_menu

router = Router("projects")


def show_list(ctx: Context) -> None:
    ctx.reset()
    language = ctx.language
    lines = [ctx._("The Otandastar Fund's support projects. Choose one to read more:"), ""]
    buttons: list[Choice] = []
    for project in ctx.content.projects:
        text = project.text[language]
        lines.append(f"• {text.title}: {text.summary}")
        buttons.append(Choice(text.button, f"prj:{project.id}"))
    ctx.say("\n".join(lines), *buttons, menu_button(ctx))


@router.button("prj")
async def projects(ctx: Context) -> None:
    args = ctx.payload_args
    if not args:
        show_list(ctx)
        return
    project = ctx.content.project(args[0])
    if project is None:
        # A button from an older message, for a project that is no longer listed.
        show_menu(ctx, ctx._("That button is from an older message and no longer works. "
                             "Here is the menu."))
        return
    ctx.reset()
    text = project.text[ctx.language]
    body = f"{text.title}\n\n{text.body}"
    if project.link:
        body += "\n\n" + ctx._("More: {link}").format(link=project.link)
    ctx.say(body, Choice(ctx._("⬅️ All projects"), "prj"), menu_button(ctx))
