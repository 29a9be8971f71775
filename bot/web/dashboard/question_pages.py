"""Questions to coordinators as an inbox: the open ones, a question with its messages,
answering from the browser (delivered to the person's messenger as a reply in the
coordinators' group is, with the same words: the flows' `question_answer` notice),
assigning to a coordinator, closing (the person is told, as from the bot)."""

from __future__ import annotations

import logging

import aiohttp_jinja2
from aiohttp import web

from bot.clock import now
from bot.core.inbound import clean, whole_number
from bot.core.notify import PushResult
from bot.db.models import ThreadStatus, User
from bot.services import coordinators, dashboard_auth, handover
from bot.web.dashboard.access import (
    PREFIX,
    context,
    dashboard_of,
    member_of,
    number_in,
    refuse,
    t_of,
)

log = logging.getLogger(__name__)
ANSWER_LIMIT = 4000


async def inbox(request: web.Request) -> web.StreamResponse:
    board = dashboard_of(request)
    closed = request.query.get("status") == ThreadStatus.CLOSED
    async with board.engine.sessionmaker() as db:
        threads = await handover.open_threads(
            db, limit=100, status=ThreadStatus.CLOSED if closed else ThreadStatus.OPEN)
        names = {user.id: user.display_name for user in [
            await db.get(User, info.thread.coordinator_id) for info in threads
            if info.thread.coordinator_id] if user is not None}
    return aiohttp_jinja2.render_template("questions.html", request, context(
        request, threads=threads, names=names, closed=closed))


async def _show(request: web.Request, notice: str | None = None,
                status: int = 200) -> web.StreamResponse:
    board = dashboard_of(request)
    number = number_in(request, "thread")
    async with board.engine.sessionmaker() as db:
        found = await handover.history(db, number) if number else None
        if found is None:
            return refuse(request, 404)
        listed = await coordinators.listing(db, board.engine.settings)
        people = [(user.id, user.display_name or str(entry.telegram_id))
                  for entry in listed
                  if (user := await coordinators.telegram_user(db, entry.telegram_id))]
    thread, user, messages = found
    return aiohttp_jinja2.render_template("question.html", request, context(
        request, thread=thread, person=user, messages=messages, people=people, notice=notice,
        is_open=thread.status == ThreadStatus.OPEN), status=status)


async def question(request: web.Request) -> web.StreamResponse:
    return await _show(request)


async def answer(request: web.Request) -> web.StreamResponse:
    board, t = dashboard_of(request), t_of(request)
    number = number_in(request, "thread")
    form = await request.post()
    words = clean(str(form.get("text") or ""), ANSWER_LIMIT + 1).strip()
    if not words or len(words) > ANSWER_LIMIT:
        return await _show(request, t._("Please write an answer of at most 4000 characters."),
                           400)
    async with board.engine.sessionmaker() as db:
        found = await handover.history(db, number) if number else None
    if found is None:
        return refuse(request, 404)
    thread, user, _ = found
    if thread.status != ThreadStatus.OPEN:
        return await _show(request, t._("Question #{id} is closed, so nothing was sent. The "
                                        "person can ask again from the menu.").format(
                                            id=thread.id), 409)
    engine = board.engine
    replies = engine.compose("question_answer", user.language, words=words)
    result = (await engine.notifier.push(user.channel, user.external_id, replies,
                                         "notice")).result
    author = member_of(request).user.id
    if result is not PushResult.SENT:
        log.warning("dashboard: answer of user %s to question #%s not delivered: %s", author,
                    thread.id, result.value)
        return await _show(request, {
            PushResult.UNREACHABLE: t._("⚠️ Not delivered: the person blocked the bot or "
                                        "cannot be reached."),
            PushResult.NO_CHANNEL: t._("⚠️ Not delivered: the person's channel cannot "
                                       "receive messages from the bot."),
        }.get(result, t._("⚠️ Not delivered, please try again in a minute.")), 502)
    moment = now()
    async with engine.sessionmaker() as db, db.begin():
        row = await handover.get_thread(db, thread.id)
        assert row is not None
        await handover.add_message(db, row, "out", text=words, attachment_kind=None,
                                   author_id=author, now=moment)
        await handover.answered(db, row, author, moment)
    log.info("dashboard: user %s answered question #%s", author, thread.id)
    raise web.HTTPSeeOther(f"{PREFIX}/questions/{thread.id}")


async def assign(request: web.Request) -> web.StreamResponse:
    board = dashboard_of(request)
    number = number_in(request, "thread")
    form = await request.post()
    chosen = whole_number(str(form.get("coordinator") or ""), low=1, high=2**52)
    async with board.engine.sessionmaker() as db, db.begin():
        row = await handover.get_thread(db, number) if number else None
        if row is None:
            return refuse(request, 404)
        if chosen is not None and await dashboard_auth.member(
                db, chosen, board.engine.settings) is None:
            return refuse(request, 403)  # only to a coordinator
        await handover.assign(db, row, chosen, member_of(request).user.id, now())
    raise web.HTTPSeeOther(f"{PREFIX}/questions/{number}")


async def close(request: web.Request) -> web.StreamResponse:
    board = dashboard_of(request)
    number = number_in(request, "thread")
    async with board.engine.sessionmaker() as db, db.begin():
        closed = await handover.close(db, number, member_of(request).user.id, now()) \
            if number else None
        user = await db.get(User, closed.user_id) if closed is not None else None
    if closed is None:
        return refuse(request, 404)
    # The coordinators' chat is told and its "Close" buttons go, as from the bot.
    await board.engine.publish(handover.Closed(closed.id, member_of(request).user.display_name))
    if user is not None:
        replies = board.engine.compose("question_closed", user.language, thread_id=closed.id)
        await board.engine.notifier.push(user.channel, user.external_id, replies, "notice")
    raise web.HTTPSeeOther(f"{PREFIX}/questions/{number}")
