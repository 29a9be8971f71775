"""Announcements in the dashboard: the list with progress, composing in three languages
with a preview per language, the audience with a live count, scheduling (Astana time,
like the bot) or sending now, cancelling, and each one's report. The rules are
bot/services/broadcasts.py's: the same audience, the same delivery rows, the same
sender."""

from __future__ import annotations

from datetime import datetime
from typing import Any, cast
from zoneinfo import ZoneInfo

import aiohttp_jinja2
from aiohttp import web
from multidict import MultiDict, MultiDictProxy, MultiMapping

from bot import LANGUAGES
from bot.channels import telegram_send, whatsapp_render
from bot.clock import now
from bot.core.i18n import Translations, Translator
from bot.core.inbound import clean, whole_number
from bot.core.replies import split_text
from bot.db.models import Broadcast
from bot.services import broadcasts, forums
from bot.web.dashboard.access import (
    PREFIX,
    context,
    dashboard_of,
    member_of,
    number_in,
    refuse,
    t_of,
)
from bot.web.dashboard.overview import page_number

ZONE = ZoneInfo("Asia/Almaty")  # Kazakhstan, UTC+5: the bot's announcements' time too
Form = MultiMapping[Any]


def audience_from(form: Form) -> broadcasts.Audience:
    """The filters ticked in the form (unknown values dropped)."""
    audience: broadcasts.Audience = {}
    languages = [v for v in form.getall("languages", []) if v in LANGUAGES]
    channels = [v for v in form.getall("channels", []) if v in broadcasts.CHANNELS]
    verdicts = [v for v in form.getall("verdicts", []) if v in broadcasts.VERDICTS]
    countries = sorted({part.strip().upper() for part in
                        clean(str(form.get("countries") or ""), 200).split(",")
                        if len(part.strip()) == 2 and part.strip().isalpha()})
    if languages:
        audience["languages"] = languages
    if channels:
        audience["channels"] = channels
    if verdicts:
        audience["verdicts"] = verdicts
    if countries:
        audience["countries"] = countries
    forum = whole_number(str(form.get("forum") or ""), low=1, high=2**52)
    if forum is not None:
        audience["forum"] = forum
        statuses = [v for v in form.getall("forum_statuses", [])
                    if v in broadcasts.FORUM_STATUSES]
        if statuses:
            audience["forum_statuses"] = statuses
    return audience


def previews(board_translations: Translations, draft: Broadcast, default: str
             ) -> dict[str, dict[str, list[str]]]:
    """Each language's message as each channel renders it (its own renderer): the
    messages' texts on Telegram and on WhatsApp."""
    shown: dict[str, dict[str, list[str]]] = {}
    for language in LANGUAGES:
        reply = broadcasts.compose(draft, language)
        t = board_translations.get(language, default)
        whatsapp = [message.get("text", {}).get("body") or
                    message.get("interactive", {}).get("body", {}).get("text", "")
                    for message in whatsapp_render.render_reply(reply, t).messages]
        shown[language] = {"Telegram": split_text(reply.text, telegram_send.TEXT_LIMIT),
                           "WhatsApp": whatsapp}
    return shown


def texts_from(form: Form) -> dict[str, str]:
    same = clean(str(form.get("text_all") or ""), broadcasts.TEXT_LIMIT + 1).strip()
    if same:
        return {broadcasts.ALL: same}
    return {language: text for language in LANGUAGES
            if (text := clean(str(form.get(f"text_{language}") or ""),
                              broadcasts.TEXT_LIMIT + 1).strip())}


def when_from(raw: str) -> datetime | None:
    """A time typed in Astana time (the form's datetime-local), in UTC; None if bad."""
    try:
        moment = datetime.fromisoformat(clean(raw, 20).strip()).replace(tzinfo=ZONE)
    except ValueError:
        return None
    return moment if moment.year in forums.YEARS else None


async def announcement_list(request: web.Request) -> web.StreamResponse:
    board = dashboard_of(request)
    async with board.engine.sessionmaker() as db:
        rows, page = await broadcasts.listing(db, page_number(request), 20)
        reports = await broadcasts.progress(db, rows)
    return aiohttp_jinja2.render_template("announcements.html", request, context(
        request, reports=reports, page=page, zone=ZONE))


async def audience_count(request: web.Request) -> web.StreamResponse:
    """The live count of the composing page: how many would get it now."""
    board = dashboard_of(request)
    async with board.engine.sessionmaker() as db:
        count = await broadcasts.count(db, audience_from(request.query),
                                       board.engine.settings.default_locale)
    return web.json_response({"count": count})


def _problem(t: Translator, texts: dict[str, str], when: datetime | None, raw_when: str,
             moment: datetime) -> str | None:
    if not texts:
        return t._("Please write the announcement's text.")
    if any(len(text) > broadcasts.TEXT_LIMIT for text in texts.values()):
        return t._("The text is too long: at most 4096 characters.")
    if raw_when and (when is None or when < moment):
        return t._("Please give a time in the future, like 2026-12-01 10:00 (Astana time).")
    return None


async def compose(request: web.Request) -> web.StreamResponse:
    """GET: the empty form. POST "preview": the texts as each language gets them and the
    count; POST "schedule": create it and schedule it (or send now)."""
    board, t = dashboard_of(request), t_of(request)
    settings = board.engine.settings
    form: Form = await request.post() if request.method == "POST" else MultiDictProxy(
        MultiDict(request.query))
    texts, audience = texts_from(form), audience_from(form)
    raw_when = str(form.get("when") or "").strip()
    when, moment = when_from(raw_when) if raw_when else None, now()
    problem = _problem(t, texts, when, raw_when, moment) if request.method == "POST" else None
    if request.method == "POST" and form.get("action") == "schedule" and problem is None:
        async with board.engine.sessionmaker() as db, db.begin():
            created = await broadcasts.create(db, created_by=member_of(request).user.id,
                                              texts=texts,
                                              audience=cast(broadcasts.AudienceRecord, audience))
            await broadcasts.schedule(db, created.id, when or moment,
                                      by=member_of(request).user.id)
        await board.engine.publish(broadcasts.Scheduled(created.id))  # wakes the sender
        raise web.HTTPSeeOther(f"{PREFIX}/announcements/{created.id}")
    draft = Broadcast(texts=texts or {}, audience=dict(audience))
    shown = previews(board.engine.translations, draft, settings.default_locale) \
        if texts else {}
    async with board.engine.sessionmaker() as db:
        count = await broadcasts.count(db, audience, settings.default_locale)
        upcoming, _ = await forums.all_forums(db, 0, 50)
    return aiohttp_jinja2.render_template("compose.html", request, context(
        request, form=form, previews=shown, count=count, problem=problem,
        forums=upcoming, languages=LANGUAGES, channels=broadcasts.CHANNELS,
        verdicts=broadcasts.VERDICTS, forum_statuses=broadcasts.FORUM_STATUSES),
        status=400 if problem else 200)


async def announcement_page(request: web.Request) -> web.StreamResponse:
    board = dashboard_of(request)
    number = number_in(request, "broadcast")
    async with board.engine.sessionmaker() as db:
        found = await db.get(Broadcast, number) if number else None
        if found is None:
            return refuse(request, 404)
        report = await broadcasts.report(db, found, now())
    shown = previews(board.engine.translations, found, board.engine.settings.default_locale)
    return aiohttp_jinja2.render_template("announcement.html", request, context(
        request, report=report, broadcast=found, previews=shown, zone=ZONE,
        audience=broadcasts.filters(broadcasts.audience_of(found))))


async def cancel(request: web.Request) -> web.StreamResponse:
    board = dashboard_of(request)
    number = number_in(request, "broadcast")
    if number is None:
        return refuse(request, 404)
    try:
        async with board.engine.sessionmaker() as db, db.begin():
            await broadcasts.cancel(db, number, now(), by=member_of(request).user.id)
    except broadcasts.BroadcastError:
        return refuse(request, 404)
    raise web.HTTPSeeOther(f"{PREFIX}/announcements/{number}")
