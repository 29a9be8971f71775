"""Coordinators' forum tools: create a forum in a guided dialog, edit it, publish, close
registration, cancel; counts per status; the attendee list as CSV and XLSX.

Every action checks the role and is logged. Buttons: `ADMIN` in handlers/payloads.py;
the dialog's states `ad:new:<step>` and `ad:edit`, its session data `AdminSession`.
"""

from __future__ import annotations

import logging
import re
import secrets
from datetime import datetime
from typing import Any, TypedDict, cast, get_args
from zoneinfo import ZoneInfo

from babel.core import get_global
from babel.dates import format_datetime

from bot import LANGUAGES
from bot.clock import now
from bot.core.context import Context
from bot.core.inbound import whole_number
from bot.core.replies import Attachment, Choice
from bot.core.router import Router
from bot.db.models import Forum, ForumStatus
from bot.services import forums
from bot.services.eligibility import country_name, match_country
from bot.services.roles import is_lead
from handlers import forum_text as text
from handlers.common import LANGUAGE_NAMES, PAGE_SIZE, menu_button, page_note, page_row
from handlers.common import refuse_unless_coordinator as _refuse
from handlers.payloads import (
    ADMIN,
    BROADCASTS,
    COORDINATORS,
    AdminForum,
    AdminForums,
    Announcements,
    CancelForum,
    CancelForumAsk,
    CloseRegistration,
    CoordinatorList,
    EditForum,
    EditForumField,
    ExportCsv,
    ExportXlsx,
    ForumStep,
    NewForum,
    PickEventLanguage,
    PickZone,
    Publish,
    StopDialog,
)

log = logging.getLogger(__name__)
router = Router("forum_admin")

# The dialog's steps in order; each is also an editable field.
STEPS: tuple[ForumStep, ...] = get_args(ForumStep)
# Fields written in each language: `<field>_<language>` steps.
LOCALIZED = ("title_", "description_", "city_", "venue_")
TIME_FORMATS = ("%Y-%m-%d %H:%M", "%d.%m.%Y %H:%M", "%Y-%m-%dT%H:%M", "%d/%m/%Y %H:%M")


class FieldEdit(TypedDict):
    """One field of a forum being changed."""

    forum: int
    field: ForumStep


class AdminSession(TypedDict, total=False):
    """The session data of the forum tools (`ctx.data`)."""

    # The new forum's answers so far, by step: text, a country code, a zone, an ISO
    # local time, a language code, a number of seats; and the slug once made.
    fw: dict[str, Any]
    ed: FieldEdit


def _session(ctx: Context) -> AdminSession:
    return cast(AdminSession, ctx.data)


def _audit(ctx: Context, action: str, forum: Forum | None = None) -> None:
    log.info("coordinator %s: %s%s", ctx.user.id, action, f" forum {forum.slug}" if forum else "")


def _prompt(ctx: Context, step: str) -> str:
    prompts = {
        "title_kk": ctx._("Title in Kazakh:"),
        "title_ru": ctx._("Title in Russian:"),
        "title_en": ctx._("Title in English:"),
        "description_kk": ctx._("Short description in Kazakh:"),
        "description_ru": ctx._("Short description in Russian:"),
        "description_en": ctx._("Short description in English:"),
        "country": ctx._("Country where it takes place (type its name):"),
        "city_kk": ctx._("City, in Kazakh:"),
        "city_ru": ctx._("City, in Russian:"),
        "city_en": ctx._("City, in English:"),
        "venue_kk": ctx._("Venue (name and address), in Kazakh:"),
        "venue_ru": ctx._("Venue (name and address), in Russian:"),
        "venue_en": ctx._("Venue (name and address), in English:"),
        "timezone": ctx._("Time zone: choose one or type it, e.g. Europe/Berlin:"),
        "starts_at": ctx._("Start, local time (YYYY-MM-DD HH:MM):"),
        "ends_at": ctx._("End, local time (YYYY-MM-DD HH:MM):"),
        "event_language": ctx._("Main language of the forum:"),
        "capacity": ctx._("Number of seats:"),
        "deadline": ctx._("Registration deadline, local time (YYYY-MM-DD HH:MM):"),
    }
    return prompts[step]


# ---- the list and one forum --------------------------------------------------------------


async def show_list(ctx: Context, page: int = 0) -> None:
    ctx.reset()
    items, found = await forums.all_forums(ctx.db, page, PAGE_SIZE)
    lines = [" ".join(line for line in (ctx._("🛠 Forums (all statuses):"),
                                        page_note(ctx, found)) if line)]
    buttons: list[Choice | list[Choice]] = []
    for forum in items:
        lines.append(f"• {text.title(forum, ctx.language)} · {text.city(forum, ctx.language)} · "
                     f"{_status(ctx, forum.status)} · {forum.confirmed_count}/{forum.capacity}")
        buttons.append(ADMIN.choice(text.short_label(forum, ctx.t), AdminForum(forum.id)))
    if not items:
        lines.append(ctx._("No forums yet."))
    if nav := page_row(ctx, found, ADMIN, lambda number: AdminForums(number)):
        buttons.append(nav)
    buttons.append(ADMIN.choice(ctx._("➕ New forum"), NewForum()))
    buttons.append(BROADCASTS.choice(ctx._("📣 Announcements"), Announcements()))
    if is_lead(ctx.user, ctx.settings):  # handlers/coordinators.py
        buttons.append(COORDINATORS.choice(ctx._("👥 Coordinators"), CoordinatorList()))
    buttons.append(menu_button(ctx))
    ctx.say("\n".join(lines), *buttons)


def _status(ctx: Context, status: str) -> str:
    return {ForumStatus.DRAFT: ctx._("draft"), ForumStatus.PUBLISHED: ctx._("open"),
            ForumStatus.CLOSED: ctx._("registration closed"),
            ForumStatus.CANCELLED: ctx._("cancelled")}[ForumStatus(status)]


async def show_forum(ctx: Context, forum: Forum, lead: str | None = None) -> None:
    ctx.reset()
    counts = await forums.counts(ctx.db, forum)
    lines = [lead + "\n" if lead else "", text.card(forum, ctx.t, now(), full=True), "",
             ctx._("Status: {status}").format(status=_status(ctx, forum.status)),
             ctx._("Confirmed {confirmed} of {capacity} · waiting {waiting} · cancelled "
                   "{cancelled} · checked in {checked_in}").format(capacity=forum.capacity,
                                                                   **counts)]
    buttons: list[Choice | list[Choice]] = []
    if forum.status in (ForumStatus.DRAFT, ForumStatus.CLOSED):
        buttons.append(ADMIN.choice(ctx._("📢 Publish / open registration"), Publish(forum.id)))
    if forum.status == ForumStatus.PUBLISHED:
        buttons.append(ADMIN.choice(ctx._("🔒 Close registration"),
                                    CloseRegistration(forum.id)))
    if forum.status != ForumStatus.CANCELLED:
        buttons.append([ADMIN.choice(ctx._("✏️ Edit"), EditForum(forum.id)),
                        ADMIN.choice(ctx._("❌ Cancel forum"), CancelForumAsk(forum.id))])
    buttons.append([ADMIN.choice(ctx._("⬇️ CSV"), ExportCsv(forum.id)),
                    ADMIN.choice(ctx._("⬇️ XLSX"), ExportXlsx(forum.id))])
    buttons += [ADMIN.choice(ctx._("⬅️ All forums"), AdminForums()), menu_button(ctx)]
    ctx.say("\n".join(line for line in lines if line is not None).strip(), *buttons)


def _header(ctx: Context) -> dict[str, str]:
    return {key: ctx._(words) for key, words in forums.EXPORT_HEADER.items()}


async def _export(ctx: Context, forum: Forum, kind: str) -> None:
    rows = await forums.attendee_rows(ctx.db, forum)
    header = _header(ctx)
    if kind == "csv":
        data = forums.to_csv(rows, header)
        attachment = Attachment(f"{forum.slug}-attendees.csv", data, "text/csv")
    else:
        data = forums.to_xlsx(rows, header, text.city(forum, "en"))
        attachment = Attachment(
            f"{forum.slug}-attendees.xlsx", data,
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
    counts = await forums.counts(ctx.db, forum)
    _audit(ctx, f"export {kind}", forum)
    ctx.say(ctx._("Attendees of \"{title}\": confirmed {confirmed}, waiting {waiting}, "
                  "cancelled {cancelled}, checked in {checked_in}.").format(
                      title=text.title(forum, ctx.language), **counts),
            ADMIN.choice(ctx._("⬅️ Back to the forum"), AdminForum(forum.id)),
            attachment=attachment)


# ---- the guided dialog --------------------------------------------------------------------


def _ask(ctx: Context, step: ForumStep, lead: str | None = None,
         editing: bool = False) -> None:
    ctx.goto("ad:edit" if editing else f"ad:new:{step}")
    prefix = f"{lead}\n\n" if lead else ""
    buttons: list[Choice | list[Choice]] = []
    wizard = _session(ctx).get("fw", {})
    if step == "timezone":
        country = wizard.get("country")
        zones = get_global("territory_zones").get(country, []) if country else []
        buttons += [ADMIN.choice(zone, PickZone(zone)) for zone in zones[:6]]
    elif step == "event_language":
        buttons.append([ADMIN.choice(name, PickEventLanguage(code))  # type: ignore[arg-type]
                        for code, name in LANGUAGE_NAMES.items() if code in LANGUAGES])
    buttons.append(ADMIN.choice(ctx._("✖️ Stop"), StopDialog()))
    ctx.say(prefix + _prompt(ctx, step), *buttons)


def _parse(ctx: Context, step: str, raw: str, wizard: dict[str, Any]) -> tuple[Any, str | None]:
    """A typed value for a step, or the reason it is refused."""
    raw = raw.strip()
    if step.startswith(LOCALIZED):
        limit = forums.TEXT_LIMITS[step.split("_")[0]]
        if not raw or len(raw) > limit:
            return None, ctx._("Please type it in up to {limit} characters.").format(limit=limit)
        return raw, None
    if step == "country":
        code = match_country(ctx.content.eligibility.rules, raw)
        return (code, None) if code else (None, ctx._("I could not find a country called "
                                                      "\"{text}\". Please check the spelling.")
                                          .format(text=raw[:60]))
    if step == "timezone":
        if not forums.known_zone(raw):
            return None, ctx._("Unknown time zone. Type it like Europe/Berlin or Asia/Almaty.")
        return raw, None
    if step in ("starts_at", "ends_at", "deadline"):
        zone = wizard.get("timezone") or "UTC"
        moment = None
        for pattern in TIME_FORMATS:
            try:
                moment = datetime.strptime(raw, pattern).replace(tzinfo=ZoneInfo(zone))
                break
            except ValueError:
                continue
        if moment is None or moment.year not in forums.YEARS:
            return None, ctx._("Please type the date and time like 2027-03-12 10:00.")
        starts = wizard.get("starts_at")
        if step == "ends_at" and starts and moment <= datetime.fromisoformat(starts):
            return None, _error(ctx, "ends_before_start")
        if step == "deadline" and starts and moment > datetime.fromisoformat(starts):
            return None, _error(ctx, "deadline_after_start")
        return moment.isoformat(), None
    if step == "capacity":
        seats = whole_number(raw, low=1, high=forums.MAX_CAPACITY)
        if seats is not None:
            return seats, None
        return None, ctx._("Please type a whole number of seats, e.g. 150.")
    return None, ctx._("Please use the buttons below.")


def _wizard_draft(wizard: dict[str, Any]) -> forums.ForumDraft:
    return forums.ForumDraft(
        slug=wizard["slug"],
        title={language: wizard[f"title_{language}"] for language in LANGUAGES},
        description={language: wizard[f"description_{language}"] for language in LANGUAGES},
        country=wizard["country"],
        city={language: wizard[f"city_{language}"] for language in LANGUAGES},
        venue={language: wizard[f"venue_{language}"] for language in LANGUAGES},
        timezone=wizard["timezone"], starts_at=datetime.fromisoformat(wizard["starts_at"]),
        ends_at=datetime.fromisoformat(wizard["ends_at"]),
        event_language=wizard["event_language"], capacity=int(wizard["capacity"]),
        deadline=datetime.fromisoformat(wizard["deadline"]),
    )


def _slug(wizard: dict[str, Any]) -> str:
    base = re.sub(r"[^a-z0-9]+", "-", wizard.get("title_en", "forum").lower()).strip("-")[:40]
    return f"{base or 'forum'}-{secrets.token_hex(3)}"


def _error(ctx: Context, code: str) -> str:
    words = {
        "ends_before_start": ctx._("The end must be after the start."),
        "deadline_after_start": ctx._("The registration deadline must be before the start."),
        "bad_capacity": ctx._("The number of seats must be at least 1."),
        "capacity_below_confirmed": ctx._("There are more confirmed people than that number "
                                          "of seats."),
        "slug_taken": ctx._("A forum with this name already exists."),
        "bad_status": ctx._("That is not possible in the forum's current status."),
    }
    return words.get(code, code)


async def _next(ctx: Context, wizard: dict[str, Any]) -> None:
    for step in STEPS:
        if step not in wizard:
            _ask(ctx, step)
            return
    wizard.setdefault("slug", _slug(wizard))
    try:
        draft = _wizard_draft(wizard)
        forums.check_draft(draft)
    except forums.ForumError as error:
        for step in ("ends_at", "deadline", "capacity"):
            wizard.pop(step, None)
        await _next_with_error(ctx, wizard, _error(ctx, error.code))
        return
    forum = await forums.create(ctx.db, draft, by=ctx.user.id, now=now())
    _audit(ctx, "create", forum)
    await show_forum(ctx, forum, lead=ctx._("Saved as a draft. Check it and publish it when "
                                            "ready."))


def _step(name: str) -> ForumStep | None:
    return next((step for step in STEPS if step == name), None)


async def _next_with_error(ctx: Context, wizard: dict[str, Any], message: str) -> None:
    step = next(step for step in STEPS if step not in wizard)
    _ask(ctx, step, lead=message)


@router.state(*(f"ad:new:{step}" for step in STEPS))
async def wizard_text(ctx: Context) -> None:
    if _refuse(ctx):
        return
    step = _step((ctx.state or "").removeprefix("ad:new:"))
    wizard = _session(ctx).setdefault("fw", {})
    if step is None:
        await show_list(ctx)
        return
    value, problem = _parse(ctx, step, ctx.event.text, wizard)
    if problem:
        _ask(ctx, step, lead=problem)
        return
    wizard[step] = value
    await _next(ctx, wizard)


@router.state("ad:edit")
async def edit_text(ctx: Context) -> None:
    if _refuse(ctx):
        return
    editing = _session(ctx).get("ed")
    forum = await forums.get(ctx.db, editing["forum"]) if editing else None
    if forum is None or editing is None:
        await show_list(ctx)
        return
    step = editing["field"]
    value, problem = _parse(ctx, step, ctx.event.text, {
        "timezone": forum.timezone, "starts_at": forums.local(forum, forum.starts_at).isoformat()
        if step != "starts_at" else None})
    if problem:
        _ask(ctx, step, lead=problem, editing=True)
        return
    await _apply_edit(ctx, forum, step, value)


async def _apply_edit(ctx: Context, forum: Forum, step: ForumStep, value: Any) -> None:
    changes: dict[str, Any] = {}
    if step.startswith(LOCALIZED):
        field, language = step.rsplit("_", 1)
        changes[field] = {**getattr(forum, field), language: value}
    elif step in ("starts_at", "ends_at", "deadline"):
        changes[step] = datetime.fromisoformat(value)
    else:
        changes[step] = value
    try:
        changed = await forums.update_forum(ctx.db, forum, changes, now(),
                                            ctx.settings.reminder_offsets, by=ctx.user.id)
    except forums.ForumError as error:
        _ask(ctx, step, lead=_error(ctx, error.code), editing=True)
        return
    _audit(ctx, f"edit {','.join(sorted(changed)) or 'nothing'}", forum)
    lead = ctx._("Saved.")
    if changed & forums.ANNOUNCED_FIELDS and forum.status in forums.LISTED:
        lead = ctx._("Saved. Everyone registered will be told about the change.")
    await show_forum(ctx, forum, lead=lead)


# ---- buttons -------------------------------------------------------------------------------


# Buttons about one forum (`forum` is its id).
_ON_A_FORUM = (AdminForum, Publish, CloseRegistration, CancelForumAsk, CancelForum, ExportCsv,
               ExportXlsx, EditForum, EditForumField)


@router.button(ADMIN)
@router.command("forums")
async def admin(ctx: Context) -> None:
    if _refuse(ctx):
        return
    press = ctx.press
    if isinstance(press, NewForum):
        ctx.reset()
        _session(ctx)["fw"] = {}
        _audit(ctx, "start a new forum")
        ctx.say(ctx.ngettext("A new forum: {count} short step. /cancel stops at any time.",
                             "A new forum: {count} short steps. /cancel stops at any time.",
                             len(STEPS)).format(count=len(STEPS)))
        _ask(ctx, STEPS[0])
        return
    if isinstance(press, StopDialog):
        ctx.reset()
        await show_list(ctx)
        return
    if isinstance(press, PickZone):
        await _button_value(ctx, "timezone", press.zone)
        return
    if isinstance(press, PickEventLanguage):
        await _button_value(ctx, "event_language", press.code)
        return
    forum = await forums.get(ctx.db, press.forum) if isinstance(press, _ON_A_FORUM) else None
    if forum is None:  # the list itself (AdminForums, /forums), or a forum no longer there
        await show_list(ctx, press.page or 0 if isinstance(press, AdminForums) else 0)
        return
    match press:
        case Publish():
            await _status_change(ctx, forum, ForumStatus.PUBLISHED)
        case CloseRegistration():
            await _status_change(ctx, forum, ForumStatus.CLOSED)
        case CancelForum():
            await _status_change(ctx, forum, ForumStatus.CANCELLED)
        case CancelForumAsk():
            ctx.say(ctx._("Cancel \"{title}\"? Everyone registered will be told.").format(
                title=text.title(forum, ctx.language)),
                ADMIN.choice(ctx._("❌ Yes, cancel the forum"), CancelForum(forum.id)),
                ADMIN.choice(ctx._("No"), AdminForum(forum.id)))
        case ExportCsv():
            await _export(ctx, forum, "csv")
        case ExportXlsx():
            await _export(ctx, forum, "xlsx")
        case EditForum():
            ctx.reset()
            fields = [ADMIN.choice(_field_label(ctx, step), EditForumField(forum.id, step))
                      for step in STEPS]
            ctx.say(ctx._("What do you want to change?"),
                    *[fields[i:i + 3] for i in range(0, len(fields), 3)],
                    ADMIN.choice(ctx._("⬅️ Back to the forum"), AdminForum(forum.id)))
        case EditForumField(field=step):
            ctx.reset()
            _session(ctx)["ed"] = {"forum": forum.id, "field": step}
            _ask(ctx, step, lead=ctx._("Now: {value}").format(
                value=_current(ctx, forum, step)), editing=True)
        case _:
            await show_forum(ctx, forum)


@router.fallback("stale", button=ADMIN)
async def older_button(ctx: Context) -> None:
    """A button this version no longer reads: the list of forums."""
    if _refuse(ctx):
        return
    await show_list(ctx)


async def _button_value(ctx: Context, step: ForumStep, value: str) -> None:
    if ctx.state == f"ad:new:{step}":
        wizard = _session(ctx).setdefault("fw", {})
        if step == "timezone":
            _, problem = _parse(ctx, step, value, wizard)
            if problem:
                _ask(ctx, step, lead=problem)
                return
        wizard[step] = value
        await _next(ctx, wizard)
        return
    editing = _session(ctx).get("ed")
    if ctx.state == "ad:edit" and editing and editing["field"] == step:
        forum = await forums.get(ctx.db, editing["forum"])
        if forum is not None:
            await _apply_edit(ctx, forum, step, value)
            return
    await show_list(ctx)


async def _status_change(ctx: Context, forum: Forum, status: ForumStatus) -> None:
    try:
        await forums.set_status(ctx.db, forum, status, now(), by=ctx.user.id)
    except forums.ForumError as error:
        await show_forum(ctx, forum, lead=_error(ctx, error.code))
        return
    _audit(ctx, f"status {status}", forum)
    leads = {ForumStatus.PUBLISHED: ctx._("Published: registration is open."),
             ForumStatus.CLOSED: ctx._("Registration is closed."),
             ForumStatus.CANCELLED: ctx._("The forum is cancelled; everyone registered will "
                                          "be told.")}
    await show_forum(ctx, forum, lead=leads[status])


def _field_label(ctx: Context, step: str) -> str:
    labels = {
        "title_kk": ctx._("Title (kk)"), "title_ru": ctx._("Title (ru)"),
        "title_en": ctx._("Title (en)"), "description_kk": ctx._("Description (kk)"),
        "description_ru": ctx._("Description (ru)"), "description_en": ctx._("Description (en)"),
        "country": ctx._("Country"), "city_kk": ctx._("City (kk)"),
        "city_ru": ctx._("City (ru)"), "city_en": ctx._("City (en)"),
        "venue_kk": ctx._("Venue (kk)"), "venue_ru": ctx._("Venue (ru)"),
        "venue_en": ctx._("Venue (en)"),
        "timezone": ctx._("Time zone"), "starts_at": ctx._("Start"), "ends_at": ctx._("End"),
        "event_language": ctx._("Language"), "capacity": ctx._("Seats"),
        "deadline": ctx._("Deadline"),
    }
    return labels[step]


def _current(ctx: Context, forum: Forum, step: str) -> str:
    if step.startswith(LOCALIZED):
        field, language = step.rsplit("_", 1)
        return str(getattr(forum, field).get(language, ""))
    if step in ("starts_at", "ends_at", "deadline"):
        return format_datetime(forums.local(forum, getattr(forum, step)), "yyyy-MM-dd HH:mm",
                               locale="en")
    if step == "country":
        return country_name(forum.country, ctx.language)
    return str(getattr(forum, step))
