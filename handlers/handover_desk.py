"""The coordinators' side of questions, the same in the coordinators' group chat and in
a coordinator's private chat.

- `/threads` lists the open questions, `/thread N` shows one, `/close N` closes one; in
  the group `/close` also as a reply to a message of the question, and the "Close"
  button under each copy there (`CloseQuestion` of `DESK`).
- In the group a coordinator answers by replying to any message of a question: the
  answer goes to the user on their channel, with a localized header and a "Reply"
  button; the group is told whether it was delivered.
- Closing tells the user; the `Closed` signal tells the coordinators' chat.
- The notices the coordinators' desk (bot/channels/telegram_desk.py) shows there: a
  user's message copied with who asked (`question_copy`), a closing note
  (`question_closed_note`).

Every action checks the role (`refuse`) and is logged; anyone else gets a short note
and nothing reaches a user.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from bot.clock import now
from bot.core.context import Context
from bot.core.events import EventKind
from bot.core.i18n import Translator
from bot.core.inbound import whole_number
from bot.core.notify import PushResult
from bot.core.replies import Attachment, Reply
from bot.core.router import EVERYWHERE, IN_GROUP, Router
from bot.db.models import HandoverThread, ThreadStatus, User
from bot.services import handover
from handlers import handover_text as text
from handlers.coordinators import number, refuse, say, who
from handlers.payloads import (
    DESK,
    HANDOVER,
    MENU,
    AskCoordinator,
    CloseQuestion,
    Menu,
    ReplyToAnswer,
)

log = logging.getLogger(__name__)
router = Router("handover_desk")

@router.command("threads", places=EVERYWHERE)
async def threads(ctx: Context) -> None:
    if refuse(ctx):
        return
    log.info("coordinator %s: list open questions", who(ctx))
    say(ctx, text.threads_text(ctx.t, await handover.open_threads(ctx.db), now()))


@router.command("thread", places=EVERYWHERE)
async def thread(ctx: Context) -> None:
    if refuse(ctx):
        return
    found_number = number(ctx.event.args)
    found = await handover.history(ctx.db, found_number) if found_number is not None \
        else None
    if found is None:
        say(ctx, ctx._("No question with that number. /threads lists the open ones."))
        return
    log.info("coordinator %s: read question #%s", who(ctx), found_number)
    say(ctx, text.history_text(ctx.t, *found, now()))


async def _replied_thread(ctx: Context) -> HandoverThread | None:
    """The question of the message an event in the coordinators' chat replies to."""
    quoted, chat = ctx.event.reply_to, ctx.settings.coordinator_chat_id
    message_id = whole_number(quoted.message_id) if quoted is not None else None
    if message_id is None or chat is None:
        return None
    return await handover.by_copy(ctx.db, chat, message_id)


@router.command("close", places=EVERYWHERE)
async def close(ctx: Context) -> None:
    if refuse(ctx):
        return
    thread_id = number(ctx.event.args)
    if thread_id is None:
        replied = await _replied_thread(ctx)
        thread_id = replied.id if replied is not None else None
    await _close(ctx, thread_id)


@router.button(DESK, places=IN_GROUP)
async def close_button(ctx: Context) -> None:
    if refuse(ctx):
        return
    press = ctx.press
    await _close(ctx, press.thread if isinstance(press, CloseQuestion) else None)


async def _close(ctx: Context, thread_id: int | None) -> None:
    closed = await handover.close(ctx.db, thread_id, ctx.user.id or None, now()) \
        if thread_id is not None else None
    if closed is None:
        say(ctx, ctx._("No open question with that number. /threads lists the open ones."))
        return
    user = await ctx.db.get(User, closed.user_id)
    log.info("coordinator %s closed question #%s", who(ctx), closed.id)
    if user is not None:
        ctx.after(_TellClosed(user.channel, user.external_id, user.language, closed.id))
    # The coordinators' chat is told by its desk; there that note is the answer.
    ctx.emit(handover.Closed(closed.id, ctx.user.display_name))
    if not ctx.in_coordinators_chat:
        say(ctx, ctx._("Question #{id} is closed; the person has been told.").format(
            id=closed.id))


def closed_reply(t: Translator, thread_id: int) -> Reply:
    return Reply(text.closed_notice(t, thread_id),
                 choices=((HANDOVER.choice(t._("💬 Ask a coordinator"), AskCoordinator()),),
                          (MENU.choice(t._("⬅️ Main menu"), Menu()),)))


@dataclass(frozen=True)
class _TellClosed:
    """After the closing is stored: tell the person who asked."""

    channel: str
    external_id: str
    language: str | None
    thread_id: int

    async def __call__(self, ctx: Context) -> None:
        t = ctx.translations.get(self.language, ctx.settings.default_locale)
        reply = closed_reply(t, self.thread_id)
        result = await ctx.deliver(self.channel, self.external_id, [t.reply(reply)])
        if result is not PushResult.SENT:
            log.warning("handover: closing notice of #%s not delivered: %s", self.thread_id,
                        result.value)


# ---- answering in the coordinators' chat ----------------------------------------------


@router.group_reply()
async def answer(ctx: Context) -> None:
    """A reply in the coordinators' chat: to a message of a question, it is the answer."""
    replied = await _replied_thread(ctx)
    if replied is None:
        return  # the coordinators talking among themselves
    if not ctx.user.is_coordinator:
        log.warning("handover: %s (not a coordinator) replied to question #%s; nothing "
                    "was sent", who(ctx), replied.id)
        ctx.say(ctx._("Only the Fund's coordinators can answer questions; nothing was "
                      "sent."))
        return
    found = await handover.history(ctx.db, replied.id)
    if found is None:
        return
    thread_row, user, _ = found
    if thread_row.status != ThreadStatus.OPEN:
        ctx.say(ctx._("Question #{id} is closed, so nothing was sent. The person can ask "
                      "again from the menu.").format(id=thread_row.id))
        return
    ctx.after(_Answer(thread_row.id, user.id, user.channel, user.external_id, user.language,
                      user.display_name))


@dataclass(frozen=True)
class _Answer:
    """After the checks: fetch a file, deliver to the user, record it, report."""

    thread_id: int
    user_id: int
    channel: str
    external_id: str
    language: str | None
    name: str | None

    async def __call__(self, ctx: Context) -> None:
        event = ctx.event
        words = event.text.strip()
        file = event.file if event.kind is EventKind.FILE else None
        attachment = await ctx.fetch_file(file) if file is not None else None
        if not words and attachment is None:
            ctx.say(ctx._("Only text, photos and documents can be sent."))
            return
        t = ctx.translations.get(self.language, ctx.settings.default_locale)
        reply = answer_reply(t, words, attachment)
        result = await ctx.deliver(self.channel, self.external_id, [t.reply(reply)])
        if result is not PushResult.SENT:
            log.warning("handover: answer of %s to question #%s not delivered: %s",
                        who(ctx), self.thread_id, result.value)
            ctx.say({
                PushResult.UNREACHABLE: ctx._("⚠️ Not delivered: the person blocked the bot "
                                              "or cannot be reached."),
                PushResult.NO_CHANNEL: ctx._("⚠️ Not delivered: the person's channel cannot "
                                             "receive messages from the bot."),
            }.get(result, ctx._("⚠️ Not delivered, please try again in a minute.")))
            return
        moment = now()
        thread_row = await handover.get_thread(ctx.db, self.thread_id)
        assert thread_row is not None
        author = ctx.user.id or None
        chat = ctx.settings.coordinator_chat_id
        await handover.add_message(
            ctx.db, thread_row, "out", text=words or None,
            attachment_kind=file.kind if attachment is not None and file is not None else None,
            author_id=author, now=moment, group_chat_id=chat,
            group_message_id=int(event.message_id) if event.message_id else None)
        await handover.answered(ctx.db, thread_row, author, moment)
        log.info("coordinator %s answered question #%s of user %s", who(ctx), self.thread_id,
                 self.user_id)
        ctx.say(ctx._("✅ Sent to {name}.").format(
            name=self.name or text.CHANNEL_NAMES.get(self.channel, self.channel)))


def answer_reply(t: Translator, words: str, attachment: Attachment | None = None) -> Reply:
    """A coordinator's answer as the person gets it, with "Reply" and the menu."""
    return Reply(text.answer_text(t, words) if words else t._("Answer from a coordinator:"),
                 choices=((HANDOVER.choice(t._("✍️ Reply"), ReplyToAnswer()),),
                          (MENU.choice(t._("⬅️ Main menu"), Menu()),)),
                 attachment=attachment)


@router.notice("question_answer")
def question_answer(t: Translator, *, words: str) -> list[Reply]:
    """A coordinator's answer written in the dashboard, as a group reply is sent."""
    return [answer_reply(t, words)]


@router.notice("question_closed")
def question_closed(t: Translator, *, thread_id: int) -> list[Reply]:
    """The person is told their question was closed (in the dashboard)."""
    return [closed_reply(t, thread_id)]


# ---- what the coordinators' chat shows ---------------------------------------------------


@router.notice("question_copy")
def question_copy(t: Translator, *, thread: HandoverThread, user: User, earlier: list[int],
                  first: bool, words: str | None, unattached: str | None) -> list[Reply]:
    """A user's message copied into the coordinators' chat: the first of a question with
    who asked, a follow-up with a short header; `unattached` names a photo or document
    kind that is not attached to the copy. With the "Close" button."""
    header = text.question_header(t, thread, user, earlier) if first \
        else text.follow_up_header(t, thread, user)
    body = (words or "").strip()
    if unattached:
        body = f"{text.attachment_label(t, unattached)} {body}".strip()
    return [Reply(f"{header}\n\n{body}" if body else header,
                  choices=((DESK.choice(t._("✅ Close the question"),
                                        CloseQuestion(thread.id)),),))]


@router.notice("question_closed_note")
def question_closed_note(t: Translator, *, thread_id: int, name: str | None) -> list[Reply]:
    return [Reply(t._("🔒 Question #{id} closed by {name}.").format(id=thread_id,
                                                                    name=name or "—"))]
