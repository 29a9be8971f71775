"""Forums in the dashboard: the list, creating and editing, publishing, closing and
cancelling (the services send the notices the bot sends), attendees with the waiting
list, exports, and the check-in page for the door."""

from __future__ import annotations

import re
import secrets
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp_jinja2
from aiohttp import web
from multidict import MultiDictProxy

from bot import LANGUAGES
from bot.clock import as_utc, now
from bot.core.i18n import Translator
from bot.core.inbound import clean, whole_number
from bot.db.models import Forum, ForumStatus, Registration
from bot.services import forums
from bot.web.dashboard.access import (
    PREFIX,
    context,
    dashboard_of,
    member_of,
    number_in,
    refuse,
    t_of,
)
from bot.web.dashboard.labels import words as words_of
from bot.web.dashboard.overview import page_number

TEXTS = ("title", "description", "city", "venue")
TICKET = re.compile(r"(?:ci_)?([A-Za-z0-9_-]{16,64})$")
Form = MultiDictProxy[Any]


def localized(values: dict[str, str], language: str, fallback: str = "") -> str:
    return values.get(language) or next((v for v in values.values() if v), fallback)


async def forum_list(request: web.Request) -> web.StreamResponse:
    board = dashboard_of(request)
    async with board.engine.sessionmaker() as db:
        rows, page = await forums.all_forums(db, page_number(request), 25)
    return aiohttp_jinja2.render_template("forums.html", request, context(
        request, forums=rows, page=page, localized=localized))


def error_words(t: Translator, code: str) -> str:
    return {
        "ends_before_start": t._("The end must be after the start."),
        "deadline_after_start": t._("The registration deadline must be before the start."),
        "bad_capacity": t._("The number of seats must be at least 1."),
        "capacity_below_confirmed": t._("There are more confirmed people than that number "
                                        "of seats."),
        "slug_taken": t._("A forum with this name already exists."),
        "bad_status": t._("That is not possible in the forum's current status."),
        "bad_timezone": t._("Unknown time zone. Type it like Europe/Berlin or Asia/Almaty."),
        "bad_date": t._("Please type the date and time like 2027-03-12 10:00."),
        "bad_country": t._("Please type the country as two letters, like KZ or DE."),
        "bad_language": t._("Please choose the forum's language."),
        "missing": t._("Please fill in every field."),
    }.get(code, code)


def _moment(raw: str, zone: str) -> datetime:
    try:
        moment = datetime.fromisoformat(raw.strip()).replace(tzinfo=ZoneInfo(zone))
    except (ValueError, KeyError) as error:
        raise forums.ForumError("bad_date") from error
    if moment.year not in forums.YEARS:
        raise forums.ForumError("bad_date")
    return moment


def read_form(form: Form) -> dict[str, Any]:
    """A forum's fields from the form, checked at the edge; ForumError names a problem."""
    def text(name: str, limit: int) -> str:
        return clean(str(form.get(name) or ""), limit).strip()

    values: dict[str, Any] = {}
    for field in TEXTS:
        values[field] = {language: text(f"{field}_{language}", forums.TEXT_LIMITS[field])
                         for language in LANGUAGES}
        if field != "description" and not all(values[field].values()):
            raise forums.ForumError("missing")
    country = text("country", 10).upper()
    if not re.fullmatch(r"[A-Z]{2}", country):
        raise forums.ForumError("bad_country")
    zone = text("timezone", 64)
    if not forums.known_zone(zone):
        raise forums.ForumError("bad_timezone")
    language = text("event_language", 8)
    if language not in LANGUAGES:
        raise forums.ForumError("bad_language")
    capacity = whole_number(text("capacity", 7), low=1, high=forums.MAX_CAPACITY)
    if capacity is None:
        raise forums.ForumError("bad_capacity")
    values.update(country=country, timezone=zone, event_language=language, capacity=capacity,
                  starts_at=_moment(text("starts_at", 20), zone),
                  ends_at=_moment(text("ends_at", 20), zone),
                  deadline=_moment(text("deadline", 20), zone))
    return values


def form_values(forum: Forum | None, form: Form | None) -> dict[str, str]:
    """What the form's fields show: what was typed, else the forum's values."""
    if form is not None:
        return {key: str(value) for key, value in form.items()}
    if forum is None:
        return {"timezone": "Asia/Almaty", "event_language": "kk", "capacity": "100"}
    zone = ZoneInfo(forum.timezone)
    values = {f"{field}_{language}": getattr(forum, field).get(language, "")
              for field in TEXTS for language in LANGUAGES}
    values.update({key: as_utc(getattr(forum, key)).astimezone(zone).strftime("%Y-%m-%dT%H:%M")
                   for key in ("starts_at", "ends_at", "deadline")})
    values.update(country=forum.country, timezone=forum.timezone,
                  event_language=forum.event_language, capacity=str(forum.capacity))
    return values


def _editor(request: web.Request, forum: Forum | None, form: Form | None,
            problem: str | None) -> web.StreamResponse:
    return aiohttp_jinja2.render_template("forum_form.html", request, context(
        request, forum=forum, values=form_values(forum, form), problem=problem,
        languages=LANGUAGES), status=400 if problem else 200)


async def new_forum(request: web.Request) -> web.StreamResponse:
    if request.method == "GET":
        return _editor(request, None, None, None)
    board, t = dashboard_of(request), t_of(request)
    form = await request.post()
    try:
        values = read_form(form)
        slug = re.sub(r"[^a-z0-9]+", "-", values["title"]["en"].lower()).strip("-")[:40]
        draft = forums.ForumDraft(slug=f"{slug or 'forum'}-{secrets.token_hex(3)}", **values)
        async with board.engine.sessionmaker() as db, db.begin():
            forum = await forums.create(db, draft, member_of(request).user.id, now())
    except forums.ForumError as error:
        return _editor(request, None, form, error_words(t, error.code))
    raise web.HTTPSeeOther(f"{PREFIX}/forums/{forum.id}")


async def edit_forum(request: web.Request) -> web.StreamResponse:
    board, t = dashboard_of(request), t_of(request)
    number = number_in(request, "forum")
    async with board.engine.sessionmaker() as db, db.begin():
        forum = await forums.get(db, number) if number else None
        if forum is None:
            return refuse(request, 404)
        if request.method == "GET":
            return _editor(request, forum, None, None)
        form = await request.post()
        try:
            await forums.update_forum(db, forum, read_form(form), now(),
                                      board.engine.settings.reminder_offsets,
                                      by=member_of(request).user.id)
        except forums.ForumError as error:  # raised before anything is changed
            return _editor(request, forum, form, error_words(t, error.code))
    raise web.HTTPSeeOther(f"{PREFIX}/forums/{number}")


STATUS_ACTIONS = {"publish": ForumStatus.PUBLISHED, "close": ForumStatus.CLOSED,
                  "cancel": ForumStatus.CANCELLED}


async def forum_status(request: web.Request) -> web.StreamResponse:
    """Publish, close or cancel; the people registered are told by the reminders' queue
    (the service writes the notices)."""
    board, t = dashboard_of(request), t_of(request)
    number = number_in(request, "forum")
    form = await request.post()
    status = STATUS_ACTIONS.get(str(form.get("action") or ""))
    if status is None:
        return refuse(request, 404)
    problem = None
    async with board.engine.sessionmaker() as db, db.begin():
        forum = await forums.get(db, number) if number else None
        if forum is None:
            return refuse(request, 404)
        try:
            await forums.set_status(db, forum, status, now(), by=member_of(request).user.id)
        except forums.ForumError as error:  # raised before anything is changed
            problem = error_words(t, error.code)
    if problem is not None:
        return await _show(request, number, problem)
    raise web.HTTPSeeOther(f"{PREFIX}/forums/{number}")


async def _show(request: web.Request, number: int | None,
                problem: str | None = None) -> web.StreamResponse:
    board = dashboard_of(request)
    async with board.engine.sessionmaker() as db:
        forum = await forums.get(db, number) if number else None
        if forum is None:
            return refuse(request, 404)
        counts = await forums.counts(db, forum)
        rows = await forums.attendee_rows(db, forum)
    t = t_of(request)
    return aiohttp_jinja2.render_template("forum.html", request, context(
        request, forum=forum, counts=counts, rows=rows, problem=problem, localized=localized,
        header={key: t._(words) for key, words in forums.EXPORT_HEADER.items()},
        zone=ZoneInfo(forum.timezone), as_utc=as_utc), status=400 if problem else 200)


async def forum_page(request: web.Request) -> web.StreamResponse:
    return await _show(request, number_in(request, "forum"))


async def export(request: web.Request) -> web.StreamResponse:
    board, t = dashboard_of(request), t_of(request)
    number, kind = number_in(request, "forum"), request.match_info["kind"]
    async with board.engine.sessionmaker() as db:
        forum = await forums.get(db, number) if number else None
        if forum is None:
            return refuse(request, 404)
        rows = await forums.attendee_rows(db, forum)
    header = {key: t._(words) for key, words in forums.EXPORT_HEADER.items()}
    if kind == "csv":
        body, mime = forums.to_csv(rows, header), "text/csv"
    else:
        body = forums.to_xlsx(rows, header, localized(forum.city, "en", forum.slug))
        mime = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    return web.Response(body=body, content_type=mime, headers={
        "Content-Disposition": f'attachment; filename="{forum.slug}-attendees.{kind}"'})


# ---- check-in at the door -------------------------------------------------------------------


async def _forum_counts(request: web.Request) -> tuple[Forum, dict[str, int]] | None:
    """The forum of the address and its counts; None when there is no such forum."""
    number = number_in(request, "forum")
    async with dashboard_of(request).engine.sessionmaker() as db:
        forum = await forums.get(db, number) if number else None
        return (forum, await forums.counts(db, forum)) if forum is not None else None


async def checkin_page(request: web.Request) -> web.StreamResponse:
    found = await _forum_counts(request)
    if found is None:
        return refuse(request, 404)
    forum, counts = found
    return aiohttp_jinja2.render_template("checkin.html", request, context(
        request, forum=forum, counts=counts, localized=localized))


def ticket_code(raw: str) -> str | None:
    """The ticket's secret in what was typed or scanned: the code, `ci_…`, or the whole
    link of the ticket's QR (`…?start=ci_…`)."""
    found = TICKET.search(clean(raw, 300).strip())
    return found.group(1) if found else None


async def checkin(request: web.Request) -> web.StreamResponse:
    """A typed or scanned code: JSON with the outcome, the name and the arrivals."""
    board, t = dashboard_of(request), t_of(request)
    number = number_in(request, "forum")
    form = await request.post()
    code = ticket_code(str(form.get("code") or ""))
    chosen = whole_number(str(form.get("registration") or ""), low=1, high=2**52)
    async with board.engine.sessionmaker() as db, db.begin():
        forum = await forums.get(db, number) if number else None
        if forum is None:
            return refuse(request, 404)
        if chosen is not None:  # found by name on the page
            code = await forums.ticket_of(db, forum.id, chosen)
        result = forums.CheckIn("unknown") if code is None else \
            await forums.check_in(db, code, member_of(request).user.id, now(), forum.id)
        registration: Registration | None = result.registration
        counts = await forums.counts(db, forum)
    words = {
        "checked_in": t._("✅ Checked in. Welcome!"),
        "already": t._("⚠️ Already checked in."),
        "waiting": t._("⏳ This person is on the waiting list, not confirmed."),
        "cancelled": t._("❌ This registration is cancelled."),
        "unknown": t._("❌ Unknown ticket. Ask for the name and check the list."),
        "elsewhere": t._("❌ This ticket is for another forum."),
    }
    return web.json_response({
        "outcome": result.outcome, "message": words[result.outcome],
        "name": registration.full_name if registration is not None else None,
        "organization": registration.organization if registration is not None else None,
        "arrived": counts["checked_in"], "confirmed": counts["confirmed"]})


async def attendee_search(request: web.Request) -> web.StreamResponse:
    """People of this forum by name or organization, for the check-in page."""
    number = number_in(request, "forum")
    words = clean(request.query.get("q", ""), 100)
    async with dashboard_of(request).engine.sessionmaker() as db:
        forum = await forums.get(db, number) if number else None
        if forum is None:
            return refuse(request, 404)
        found = await forums.find_attendees(db, forum.id, words)
    t = t_of(request)
    return web.json_response([{
        "id": r.id, "name": r.full_name, "organization": r.organization,
        "status": words_of(t).get(r.status, r.status),
        "arrived": r.checked_in_at is not None} for r in found])


async def arrivals(request: web.Request) -> web.StreamResponse:
    """The live counter of the check-in page."""
    found = await _forum_counts(request)
    if found is None:
        return refuse(request, 404)
    counts = found[1]
    return web.json_response({"arrived": counts["checked_in"], "confirmed": counts["confirmed"]})
