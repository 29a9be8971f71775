"""Managing coordinators, for the lead coordinators (ADMIN_IDS) only: the list of
coordinators, adding and removing them (`/coordinators`, `/addcoordinator ID`,
`/removecoordinator ID`; in the coordinators' group chat also as a reply to a
message of the person). In a private chat also "👥 Coordinators", payloads `co…`,
state `co:add`. Open questions are in handlers/handover_desk.py.

Every action checks the role and is logged with who did what. In the coordinators'
chat the answers are words only (no buttons there) in the group's language."""

from __future__ import annotations

import logging

from bot.clock import now
from bot.core.context import Context
from bot.core.inbound import whole_number
from bot.core.replies import Choice
from bot.core.router import EVERYWHERE, Router
from bot.db.paging import Page
from bot.services import coordinators
from bot.services.roles import is_lead
from handlers import handover_text as text
from handlers.common import PAGE_SIZE, attempted, menu_button, page_note, page_row, show_menu
from handlers.payloads import (
    COORDINATORS,
    AddCoordinator,
    CoordinatorList,
    RemoveCoordinator,
)

log = logging.getLogger(__name__)
router = Router("coordinators")

ADDING = "co:add"


def who(ctx: Context) -> str:
    where = " in the coordinators' chat" if ctx.in_coordinators_chat else ""
    return f"user {ctx.user.id}{where}"


def say(ctx: Context, words: str, *choices: Choice | list[Choice]) -> None:
    """An answer to a coordinator: in a private chat with `choices` and the menu button,
    in the coordinators' chat the words alone."""
    if ctx.in_coordinators_chat:
        ctx.say(words)
    else:
        ctx.say(words, *choices, menu_button(ctx))


def refuse(ctx: Context, lead: bool = False) -> bool:
    """True (the refusal said, the attempt logged) when the user lacks the role."""
    allowed = is_lead(ctx.user, ctx.settings) if lead else ctx.user.is_coordinator
    if allowed:
        return False
    log.warning("%s tried a %s action: %s", who(ctx),
                "lead coordinator" if lead else "coordinator", attempted(ctx))
    words = ctx._("This is for the Fund's lead coordinators only.") if lead \
        else ctx._("This is for the Fund's coordinators only.")
    if ctx.in_coordinators_chat:
        ctx.say(words)
    else:
        show_menu(ctx, words)
    return True


def number(raw: str) -> int | None:
    """A Telegram user id or a question's number, typed."""
    return whole_number(raw, low=1, high=2**52 - 1)


def _target(ctx: Context) -> tuple[int | None, str | None]:
    """The person a command is about: the id typed after it, or (in the coordinators'
    chat) the author of the message it replies to, with their name."""
    typed = number(ctx.event.args)
    quoted = ctx.event.reply_to
    author = quoted.author if quoted is not None else None
    if typed is None and author is not None and author.channel == coordinators.CHANNEL:
        typed = number(author.external_id)
        return typed, quoted.author_name if quoted is not None else None
    return typed, None


def _ask_for_target(ctx: Context) -> None:
    ctx.say(ctx._("Reply with the command to the person's message, or add their "
                  "Telegram user ID."))


async def show_coordinators(ctx: Context, lead: str | None = None, page: int = 0) -> None:
    ctx.reset()
    people = await coordinators.listing(ctx.db, ctx.settings)
    added = any(not person.lead for person in people)
    if ctx.in_coordinators_chat:  # no buttons, no session there: the whole list as text
        body = text.coordinators_text(ctx.t, people, added)
        ctx.say(f"{lead}\n\n{body}" if lead else body)
        return
    found = Page.of(len(people), page, PAGE_SIZE)
    shown = found.slice(people)
    body = text.coordinators_text(ctx.t, shown, added)
    if note := page_note(ctx, found):
        body += f"\n{note}"
    buttons: list[Choice | list[Choice]] = [
        COORDINATORS.choice(
            ctx._("➖ {name}").format(name=person.name or str(person.telegram_id))[:60],
            RemoveCoordinator(person.telegram_id))
        for person in shown if not person.lead]
    buttons += [page_row(ctx, found, COORDINATORS, lambda number: CoordinatorList(number)),
                COORDINATORS.choice(ctx._("➕ Add a coordinator"), AddCoordinator()),
                menu_button(ctx)]
    ctx.say(f"{lead}\n\n{body}" if lead else body, *buttons)


async def _add(ctx: Context, telegram_id: int, name: str | None = None) -> None:
    added = await coordinators.add(ctx.db, telegram_id, int(ctx.user.external_id), now(),
                                   name, actor=ctx.user.id)
    if added:
        log.info("lead %s added a coordinator", who(ctx))
    await show_coordinators(ctx, ctx._("Added: {id} is a coordinator now.").format(
        id=telegram_id) if added else ctx._("{id} is a coordinator already.").format(
        id=telegram_id))


async def _remove(ctx: Context, telegram_id: int) -> None:
    if telegram_id in ctx.settings.admin_ids:
        await show_coordinators(ctx, ctx._("A lead coordinator is set in ADMIN_IDS and cannot "
                                           "be removed here."))
        return
    removed = await coordinators.remove(ctx.db, telegram_id, by=ctx.user.id)
    if removed:
        log.info("lead %s removed a coordinator", who(ctx))
    await show_coordinators(ctx, ctx._("Removed: {id} is no longer a coordinator.").format(
        id=telegram_id) if removed else ctx._("{id} is not a coordinator.").format(
        id=telegram_id))


def _ask_id(ctx: Context, lead: str | None = None) -> None:
    ctx.reset()
    ctx.goto(ADDING)
    prompt = ctx._("Send the new coordinator's Telegram user ID (a number; they can find it "
                   "with @userinfobot). In the coordinators' chat you can also reply "
                   "/addcoordinator to their message.")
    ctx.say(f"{lead}\n\n{prompt}" if lead else prompt,
            COORDINATORS.choice(ctx._("✖️ Cancel"), CoordinatorList()))


@router.command("coordinators", places=EVERYWHERE)
@router.button(COORDINATORS)
async def coordinators_screen(ctx: Context) -> None:
    if refuse(ctx, lead=True):
        return
    press = ctx.press
    if isinstance(press, AddCoordinator):
        _ask_id(ctx)
        return
    if isinstance(press, RemoveCoordinator):
        await _remove(ctx, press.telegram_id)
        return
    log.info("lead %s: list coordinators", who(ctx))
    await show_coordinators(ctx, page=press.page or 0 if isinstance(press, CoordinatorList)
                            else 0)


@router.command("addcoordinator", places=EVERYWHERE)
async def add_command(ctx: Context) -> None:
    if refuse(ctx, lead=True):
        return
    telegram_id, name = _target(ctx)
    if telegram_id is None:
        if ctx.in_coordinators_chat:  # no typed answer there: no session in the group
            _ask_for_target(ctx)
        else:
            _ask_id(ctx)
        return
    await _add(ctx, telegram_id, name)


@router.state(ADDING)
async def add_typed(ctx: Context) -> None:
    if refuse(ctx, lead=True):
        return
    telegram_id = number(ctx.event.text)
    if telegram_id is None:
        _ask_id(ctx, ctx._("That is not a Telegram user ID: it is a number like 123456789."))
        return
    await _add(ctx, telegram_id)


@router.command("removecoordinator", places=EVERYWHERE)
async def remove_command(ctx: Context) -> None:
    if refuse(ctx, lead=True):
        return
    telegram_id, _name = _target(ctx)
    if telegram_id is None:
        if ctx.in_coordinators_chat:  # no ➖ buttons there
            _ask_for_target(ctx)
        else:
            await show_coordinators(ctx, ctx._("Which one? /removecoordinator 123456789, or "
                                               "the ➖ button below."))
        return
    await _remove(ctx, telegram_id)
