"""Coordinators' tools in the private chat: open questions (`/threads`, `/thread N`,
`/close N`) for every coordinator; the list of coordinators, adding and removing them
(`/coordinators`, `/addcoordinator ID`, `/removecoordinator ID`, "👥 Coordinators",
payloads `co…`, state `co:add`) for the lead coordinators (ADMIN_IDS) only.

Every action checks the role and is logged with who did what. The same actions in
the coordinators' chat are in bot/channels/telegram_desk.py."""

from __future__ import annotations

import logging

from bot.core.context import Context
from bot.core.replies import Choice
from bot.core.router import Router
from bot.services import coordinators, handover
from bot.services.clock import now
from bot.services.roles import is_lead
from handlers import handover_text as text
from handlers.common import menu_button, show_menu

log = logging.getLogger(__name__)
router = Router("coordinators")

ADDING = "co:add"


def _who(ctx: Context) -> str:
    return f"{ctx.user.channel}:{ctx.user.external_id}"


def _refuse(ctx: Context, lead: bool = False) -> bool:
    allowed = is_lead(ctx.user, ctx.settings) if lead else ctx.user.is_coordinator
    if allowed:
        return False
    log.warning("user %s tried a %s action: %s", _who(ctx),
                "lead coordinator" if lead else "coordinator",
                ctx.event.payload or ctx.event.text[:40])
    show_menu(ctx, ctx._("This is for the Fund's lead coordinators only.") if lead
              else ctx._("This is for the Fund's coordinators only."))
    return True


def _telegram_id(raw: str) -> int | None:
    raw = raw.strip()
    return int(raw) if raw.isdigit() and 0 < int(raw) < 2**52 else None


async def show_coordinators(ctx: Context, lead: str | None = None) -> None:
    ctx.reset()
    people = await coordinators.listing(ctx.db, ctx.settings)
    body = text.coordinators_text(ctx.t, people)
    buttons: list[Choice | list[Choice]] = []
    buttons += [
        Choice(ctx._("➖ {name}").format(name=person.name or str(person.telegram_id))[:60],
               f"co:rm:{person.telegram_id}")
        for person in people if not person.lead][:20]
    buttons += [Choice(ctx._("➕ Add a coordinator"), "co:add"), menu_button(ctx)]
    ctx.say(f"{lead}\n\n{body}" if lead else body, *buttons)


async def _add(ctx: Context, telegram_id: int) -> None:
    added = await coordinators.add(ctx.db, telegram_id, int(ctx.user.external_id), now())
    if added:
        log.info("lead %s added coordinator telegram:%s", _who(ctx), telegram_id)
    await show_coordinators(ctx, ctx._("Added: {id} is a coordinator now.").format(
        id=telegram_id) if added else ctx._("{id} is a coordinator already.").format(
        id=telegram_id))


async def _remove(ctx: Context, telegram_id: int) -> None:
    if telegram_id in ctx.settings.admin_ids:
        await show_coordinators(ctx, ctx._("A lead coordinator is set in ADMIN_IDS and cannot "
                                           "be removed here."))
        return
    removed = await coordinators.remove(ctx.db, telegram_id)
    if removed:
        log.info("lead %s removed coordinator telegram:%s", _who(ctx), telegram_id)
    await show_coordinators(ctx, ctx._("Removed: {id} is no longer a coordinator.").format(
        id=telegram_id) if removed else ctx._("{id} is not a coordinator.").format(
        id=telegram_id))


def _ask_id(ctx: Context, lead: str | None = None) -> None:
    ctx.reset()
    ctx.goto(ADDING)
    prompt = ctx._("Send the Telegram user id of the new coordinator (a number; they can see "
                   "it with @userinfobot). In the coordinators' chat you can also reply "
                   "/addcoordinator to their message.")
    ctx.say(f"{lead}\n\n{prompt}" if lead else prompt, Choice(ctx._("✖️ Cancel"), "co"))


@router.command("coordinators")
@router.button("co")
async def coordinators_screen(ctx: Context) -> None:
    if _refuse(ctx, lead=True):
        return
    args = ctx.payload_args
    if args and args[0] == "add":
        _ask_id(ctx)
        return
    if len(args) > 1 and args[0] == "rm" and _telegram_id(args[1]) is not None:
        await _remove(ctx, int(args[1]))
        return
    log.info("lead %s: list coordinators", _who(ctx))
    await show_coordinators(ctx)


@router.command("addcoordinator")
async def add_command(ctx: Context) -> None:
    if _refuse(ctx, lead=True):
        return
    telegram_id = _telegram_id(ctx.event.args)
    if telegram_id is None:
        _ask_id(ctx)
        return
    await _add(ctx, telegram_id)


@router.state(ADDING)
async def add_typed(ctx: Context) -> None:
    if _refuse(ctx, lead=True):
        return
    telegram_id = _telegram_id(ctx.event.text)
    if telegram_id is None:
        _ask_id(ctx, ctx._("That is not a Telegram user id: it is a number like 123456789."))
        return
    await _add(ctx, telegram_id)


@router.command("removecoordinator")
async def remove_command(ctx: Context) -> None:
    if _refuse(ctx, lead=True):
        return
    telegram_id = _telegram_id(ctx.event.args)
    if telegram_id is None:
        await show_coordinators(ctx, ctx._("Which one? /removecoordinator 123456789, or the "
                                           "➖ button below."))
        return
    await _remove(ctx, telegram_id)


# ---- open questions ------------------------------------------------------------------


@router.command("threads")
async def threads(ctx: Context) -> None:
    if _refuse(ctx):
        return
    log.info("coordinator %s: list open questions", _who(ctx))
    ctx.say(text.threads_text(ctx.t, await handover.open_threads(ctx.db), now()),
            menu_button(ctx))


@router.command("thread")
async def thread(ctx: Context) -> None:
    if _refuse(ctx):
        return
    number = _telegram_id(ctx.event.args)
    found = await handover.history(ctx.db, number) if number is not None else None
    if found is None:
        ctx.say(ctx._("No question with that number. /threads lists the open ones."),
                menu_button(ctx))
        return
    log.info("coordinator %s: read question #%s", _who(ctx), number)
    ctx.say(text.history_text(ctx.t, *found, now()), menu_button(ctx))


@router.command("close")
async def close(ctx: Context) -> None:
    if _refuse(ctx):
        return
    number = _telegram_id(ctx.event.args)
    closed = await handover.close(ctx.db, number, ctx.user.id, now()) \
        if number is not None else None
    if closed is None:
        ctx.say(ctx._("No open question with that number. /threads lists the open ones."),
                menu_button(ctx))
        return
    log.info("coordinator %s closed question #%s", _who(ctx), number)
    ctx.emit(handover.Closed(closed.id, ctx.user.display_name))
    ctx.say(ctx._("Question #{id} is closed; the person has been told.").format(id=closed.id),
            menu_button(ctx))
