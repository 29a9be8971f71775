"""Questions to a human: the user writes to the Fund's coordinators.

"💬 Ask a coordinator" (`AskCoordinator` of `HANDOVER`, shown when COORDINATOR_CHAT_ID
is set) asks for the question; text, a photo or a document (state `ho:ask`). It is
stored in the user's open thread and a `Relay` signal asks the coordinators' desk
(bot/channels/telegram_desk.py) to copy it into the coordinators' chat once the step
is stored.
While the thread is open, what the user writes (state `ho:open`) joins it. Answers
come back as messages the bot starts, with a "Reply" button (`ReplyToAnswer`).
"""

from __future__ import annotations

from bot.clock import now
from bot.core.context import Context
from bot.core.events import EventKind, InboundFile
from bot.core.router import Router
from bot.services import handover
from handlers.common import menu_button, show_menu
from handlers.payloads import HANDOVER, MENU, Menu, ReplyToAnswer

router = Router("handover")

ASK = "ho:ask"
OPEN = "ho:open"
TEXT_LIMIT = 3500


@router.button(HANDOVER)
async def ask(ctx: Context) -> None:
    if not handover.available(ctx.settings):
        show_menu(ctx, ctx._("Questions to coordinators are not available at the moment."))
        return
    thread = await handover.current(ctx.db, ctx.user.id)
    if thread is not None:
        ctx.reset()
        ctx.goto(OPEN, thread=thread.id)
        if isinstance(ctx.press, ReplyToAnswer):
            text = ctx._("Write your reply: it goes to the coordinator of your question "
                         "#{id}.").format(id=thread.id)
        else:
            text = ctx._("Your question #{id} is still open. Anything you write here is added "
                         "to it, and a coordinator will answer here.").format(id=thread.id)
        ctx.say(text, menu_button(ctx))
        return
    ctx.reset()
    ctx.goto(ASK)
    ctx.say(ctx._("Write your question to the Fund's coordinators: a message, a photo or a "
                  "document. A person will read it and answer here."),
            MENU.choice(ctx._("✖️ Cancel"), Menu()))


@router.state(ASK, OPEN, files=True)
async def question(ctx: Context) -> None:
    event = ctx.event
    text = event.text.strip()
    file = event.file if event.kind is EventKind.FILE else None
    if not text and file is None:
        ctx.say(ctx._("Please write your question in a message, or send a photo or a "
                      "document."), menu_button(ctx))
        return
    if len(text) > TEXT_LIMIT:
        ctx.say(ctx._("That is a little long: please keep it under {limit} characters, or "
                      "send it in parts.").format(limit=TEXT_LIMIT), menu_button(ctx))
        return
    await relay(ctx, text, file)


async def relay(ctx: Context, text: str, file: InboundFile | None = None) -> None:
    """Add the user's words (or file) to their open question, or open one with them;
    the coordinators' desk copies it into their chat once the step is stored."""
    moment = now()
    thread, created = await handover.open_thread(ctx.db, ctx.user.id, moment)
    message = await handover.add_message(
        ctx.db, thread, "in", text=text or None, attachment_kind=file.kind if file else None,
        author_id=ctx.user.id, now=moment)
    ctx.emit(handover.Relay(message.id, thread.id, created, file))
    ctx.reset()
    ctx.goto(OPEN, thread=thread.id)
    if created:
        ctx.say("\n".join([
            ctx._("Thank you! Your question #{id} has been passed to the Fund's "
                  "coordinators.").format(id=thread.id),
            ctx._("They will answer here in English, usually within a working day."),
            ctx._("Anything else you write here is added to this question."),
        ]), menu_button(ctx))
    else:
        ctx.say(ctx._("Added to your question #{id}.").format(id=thread.id), menu_button(ctx))
