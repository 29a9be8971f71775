"""The Otandastar Fund's support projects, from the content files."""

from __future__ import annotations

from bot.core.context import Context
from bot.core.replies import Choice
from bot.core.router import Router
from handlers.common import menu_button, show_stale
from handlers.facts_text import fill, named, sources
from handlers.payloads import PROJECTS, Projects

router = Router("projects")


def show_list(ctx: Context) -> None:
    ctx.reset()
    language = ctx.language
    lines = [ctx._("The Otandastar Fund's support projects. Choose one to read more:"), ""]
    buttons: list[Choice] = []
    for project in ctx.content.projects:
        text = project.text[language]
        lines.append(f"• {text.title}: {text.summary}")
        buttons.append(Choice(text.button, PROJECTS.build(Projects(project.id))))
    ctx.say("\n".join(lines), *buttons, menu_button(ctx))


@router.button(PROJECTS)
async def projects(ctx: Context) -> None:
    assert isinstance(ctx.press, Projects)
    if ctx.press.project is None:
        show_list(ctx)
        return
    project = ctx.content.project(ctx.press.project)
    if project is None:
        # A button from an older message, for a project that is no longer listed.
        show_stale(ctx)
        return
    ctx.reset()
    text = project.text[ctx.language]
    body = f"{text.title}\n\n{fill(ctx, text.body)}"
    if project.link:
        body += "\n\n" + ctx._("More: {link}").format(link=project.link)
    body += "\n\n" + sources(ctx, [ctx.content.projects_source, *named(ctx, text.body)])
    ctx.say(body, Choice(ctx._("⬅️ All projects"), PROJECTS.build(Projects())), menu_button(ctx))
