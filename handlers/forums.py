"""Business forums for attendees: the catalogue, registration as a short conversation,
tickets, "My registrations", cancellation, and check-in by a ticket's QR code.

Buttons: `FORUMS` (the list, a country filter, a forum, register, my registrations, a
ticket, cancel) and `REGISTRATION` (the registration's steps) in handlers/payloads.py;
the registration's states are `rg:<step>`, its session data `RegistrationSession`.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any, NotRequired, TypedDict, cast

import phonenumbers
from email_validator import EmailNotValidError, validate_email

from bot.clock import now
from bot.core import formats
from bot.core.context import Context
from bot.core.i18n import Translator
from bot.core.replies import Choice, Reply
from bot.core.router import Router
from bot.db.models import Forum, ForumStatus, Registration, RegistrationStatus
from bot.db.paging import Page
from bot.services import forums
from bot.services.eligibility import country_name, match_country, remember_country
from handlers import forum_text as text
from handlers.common import PAGE_SIZE, menu_button, page_note, page_row, show_menu
from handlers.payloads import (
    FORUMS,
    REGISTRATION,
    Agree,
    CancelAsk,
    CancelConfirmed,
    Countries,
    DetailField,
    EditDetail,
    EnterFresh,
    ForumList,
    ForumPage,
    ForumsIn,
    ForumView,
    MyRegistration,
    MyRegistrations,
    PickSector,
    Register,
    SkipEmail,
    StopRegistration,
    Submit,
    Ticket,
    UseKnown,
)

log = logging.getLogger(__name__)
router = Router("forums")

STEPS = ("full_name", "country", "city", "organization", "sector", "phone", "email", "consent")
LIMITS = {"full_name": 200, "city": 100, "organization": 200}


class RegistrationDraft(TypedDict):
    """What the registration collected so far (`ctx.data["rg"]`)."""

    forum: NotRequired[int]
    # Answers by step (`STEPS`): the details of `forums.DETAIL_FIELDS`, and `consent`.
    fields: dict[str, Any]
    # The details of the user's last registration, offered again.
    known: NotRequired[dict[str, Any]]
    # The step being changed from the summary.
    editing: NotRequired[str]


class RegistrationSession(TypedDict, total=False):
    """The session data of a registration (`ctx.data`)."""

    rg: RegistrationDraft


def _session(ctx: Context) -> RegistrationSession:
    return cast(RegistrationSession, ctx.data)


# ---- the catalogue ------------------------------------------------------------------------


async def show_list(ctx: Context, country: str | None = None, page: int = 0) -> None:
    """A page of the upcoming forums (of one country, or all), soonest first."""
    moment = now()
    ctx.reset()
    items, found = await forums.upcoming(ctx.db, moment, country, page, PAGE_SIZE)
    buttons: list[Choice | list[Choice]] = []
    if not items:
        lines = [ctx._("There are no upcoming forums yet. Please look again later.")]
    else:
        lines = [ctx._("Upcoming business forums with compatriots:")]
        if country:
            lines[0] = ctx._("Upcoming forums in {country}:").format(
                country=country_name(country, ctx.language))
        if note := page_note(ctx, found):
            lines[0] += f" {note}"
        for forum in items:
            lines += ["", text.card(forum, ctx.t, moment)]
            buttons.append(FORUMS.choice(text.short_label(forum, ctx.t), ForumView(forum.id)))
    if nav := page_row(ctx, found, FORUMS, lambda number: ForumPage(number, country)):
        buttons.append(nav)
    if country or len(await forums.upcoming_countries(ctx.db, moment)) > 1:
        buttons.append(FORUMS.choice(ctx._("🌍 Countries"), Countries()))
    if await forums.has_registrations(ctx.db, ctx.user.id):
        buttons.append(FORUMS.choice(ctx._("🎟 My registrations"), MyRegistrations()))
    buttons.append(menu_button(ctx))
    ctx.say("\n".join(lines), *buttons)


async def show_countries(ctx: Context, page: int = 0) -> None:
    """The countries with upcoming forums, a page at a time, to see one's forums."""
    ctx.reset()
    countries = await forums.upcoming_countries(ctx.db, now())
    found = Page.of(len(countries), page, PAGE_SIZE)
    lines = [ctx._("Forums in which country?"), page_note(ctx, found)]
    ctx.say("\n".join(line for line in lines if line),
            *[FORUMS.choice(country_name(code, ctx.language)[:60], ForumsIn(code))
              for code in found.slice(countries)],
            page_row(ctx, found, FORUMS, lambda number: Countries(number)),
            FORUMS.choice(ctx._("🌍 All countries"), ForumsIn()), menu_button(ctx))


async def show_forum(ctx: Context, forum_id: int) -> None:
    forum = await forums.get(ctx.db, forum_id)
    moment = now()
    if forum is None or forum.status == ForumStatus.DRAFT:
        await show_list(ctx)
        return
    ctx.reset()
    buttons: list[Choice] = []
    registration = await forums.active_registration(ctx.db, forum.id, ctx.user.id)
    if registration is not None:
        buttons.append(FORUMS.choice(ctx._("🎟 My registration"), MyRegistration(registration.id)))
    elif forums.registration_open(forum, moment):
        label = ctx._("✍️ Register") if forums.seats_left(forum) else \
            ctx._("✍️ Join the waiting list")
        buttons.append(FORUMS.choice(label, Register(forum.id)))
    buttons += [FORUMS.choice(ctx._("⬅️ All forums"), ForumList()), menu_button(ctx)]
    ctx.say(text.card(forum, ctx.t, moment, full=True), *buttons)


# ---- registration ---------------------------------------------------------------------------


def _draft(ctx: Context) -> RegistrationDraft:
    return _session(ctx).setdefault("rg", {"fields": {}})


def _next_step(fields: dict[str, Any]) -> str:
    for step in STEPS:
        if step not in fields:
            return step
    return "summary"


async def start_registration(ctx: Context, forum_id: int) -> None:
    forum = await forums.get(ctx.db, forum_id)
    moment = now()
    if forum is None or not forums.registration_open(forum, moment):
        await show_forum(ctx, forum_id)
        return
    existing = await forums.active_registration(ctx.db, forum_id, ctx.user.id)
    if existing is not None:
        await show_registration(ctx, existing.id)
        return
    ctx.reset()
    draft: RegistrationDraft = {"forum": forum_id, "fields": {}}
    _session(ctx)["rg"] = draft
    known = await forums.latest_details(ctx.db, ctx.user.id)
    if known:
        draft["known"] = known
        ctx.goto("rg:known")
        summary = _summary_lines(ctx, known)
        ctx.say("\n".join([ctx._("Registration for \"{title}\".").format(
            title=text.title(forum, ctx.language)), "",
            ctx._("Use your details from last time?"), "", *summary]),
            REGISTRATION.choice(ctx._("✅ Yes, use them"), UseKnown()),
            REGISTRATION.choice(ctx._("✏️ Enter new details"), EnterFresh()),
            REGISTRATION.choice(ctx._("✖️ Cancel registration"), StopRegistration()))
        return
    ctx.say(ctx._("Registration for \"{title}\". It takes 8 short steps; /cancel stops it at "
                  "any time.").format(title=text.title(forum, ctx.language)))
    _ask(ctx)


def _ask(ctx: Context, lead: str | None = None) -> None:
    draft = _draft(ctx)
    step = draft.get("editing") or _next_step(draft["fields"])
    ctx.goto(f"rg:{step}")
    stop = REGISTRATION.choice(ctx._("✖️ Cancel registration"), StopRegistration())
    prefix = f"{lead}\n\n" if lead else ""
    if step == "full_name":
        ctx.say(prefix + ctx._("Your full name, as in your passport:"), stop)
    elif step == "country":
        ctx.say(prefix + ctx._("Which country do you live in? Type its name."), stop)
    elif step == "city":
        ctx.say(prefix + ctx._("Your city:"), stop)
    elif step == "organization":
        ctx.say(prefix + ctx._("Your organization or company (or \"-\" if none):"), stop)
    elif step == "sector":
        choices = [REGISTRATION.choice(ctx._(label), PickSector(code))
                   for code, label in text.SECTORS.items()]
        ctx.say(prefix + ctx._("Your business sector:"),
                *[choices[i:i + 2] for i in range(0, len(choices), 2)], stop)
    elif step == "phone":
        ctx.say(prefix + ctx._("Your phone number with the country code, e.g. +49 151 23456789. "
                               "On Telegram you can also press \"Share my phone\"."),
                ask_contact=ctx._("📱 Share my phone"))
    elif step == "email":
        ctx.say(prefix + ctx._("Your e-mail, for the ticket and changes (optional):"),
                REGISTRATION.choice(ctx._("Skip"), SkipEmail()), stop)
    elif step == "consent":
        days = ctx.settings.forum_data_retention_days
        privacy = ctx.ngettext(
            "We use your details only to organize this forum: the attendee list, your ticket "
            "and reminders. They are deleted {days} day after the forum; /mydata shows them "
            "and /forgetme deletes them at any time.",
            "We use your details only to organize this forum: the attendee list, your ticket "
            "and reminders. They are deleted {days} days after the forum; /mydata shows them "
            "and /forgetme deletes them at any time.", days).format(days=days)
        if ctx.settings.privacy_url:
            privacy += "\n" + ctx._("Privacy notice: {url}").format(url=ctx.settings.privacy_url)
        ctx.say(prefix + privacy + "\n\n" + ctx._("Do you agree to the processing of your "
                                                  "personal data for this forum?"),
                REGISTRATION.choice(ctx._("✅ I agree"), Agree()), stop)
    else:
        _show_summary(ctx, prefix)


def _summary_lines(ctx: Context, fields: dict[str, Any]) -> list[str]:
    sector = fields.get("sector")
    return [
        ctx._("Name: {value}").format(value=fields.get("full_name") or "—"),
        ctx._("Country: {value}").format(
            value=country_name(fields["country"], ctx.language) if fields.get("country")
            else "—"),
        ctx._("City: {value}").format(value=fields.get("city") or "—"),
        ctx._("Organization: {value}").format(value=fields.get("organization") or "—"),
        ctx._("Sector: {value}").format(
            value=ctx._(text.SECTORS[sector]) if sector in text.SECTORS else "—"),
        ctx._("Phone: {value}").format(value=fields.get("phone") or "—"),
        ctx._("E-mail: {value}").format(value=fields.get("email") or "—"),
    ]


def _show_summary(ctx: Context, prefix: str = "") -> None:
    draft = _draft(ctx)
    ctx.goto("rg:summary")
    labels: tuple[tuple[DetailField, str], ...] = (
        ("full_name", ctx._("✏️ Name")), ("country", ctx._("✏️ Country")),
        ("city", ctx._("✏️ City")), ("organization", ctx._("✏️ Organization")),
        ("sector", ctx._("✏️ Sector")), ("phone", ctx._("✏️ Phone")),
        ("email", ctx._("✏️ E-mail")))
    edit = [REGISTRATION.choice(label, EditDetail(field)) for field, label in labels]
    ctx.say(prefix + "\n".join([ctx._("Please check your details:"), "",
                                *_summary_lines(ctx, draft["fields"])]),
            REGISTRATION.choice(ctx._("✅ Confirm registration"), Submit()),
            *[edit[i:i + 3] for i in range(0, len(edit), 3)],
            REGISTRATION.choice(ctx._("✖️ Cancel registration"), StopRegistration()))


def _accept(ctx: Context, step: str, value: Any) -> None:
    draft = _draft(ctx)
    draft["fields"][step] = value
    draft.pop("editing", None)


async def _typed(ctx: Context, step: str) -> None:
    raw = ctx.event.text.strip()
    if step in LIMITS:
        if not raw or len(raw) > LIMITS[step]:
            _ask(ctx, ctx._("Please type it in one line of up to {limit} characters.").format(
                limit=LIMITS[step]))
            return
        if step == "full_name" and len(raw) < 3:
            _ask(ctx, ctx._("Please type your full name."))
            return
        _accept(ctx, step, None if step == "organization" and raw == "-" else raw)
    elif step == "country":
        code = match_country(ctx.content.eligibility.rules, raw)
        if code is None:
            _ask(ctx, ctx._("I could not find a country called \"{text}\". Please check the "
                            "spelling.").format(text=raw[:60]))
            return
        _accept(ctx, step, code)
    elif step == "phone":
        phone = _phone(raw, _draft(ctx)["fields"].get("country"))
        if phone is None:
            _ask_phone_again(ctx)
            return
        _accept(ctx, step, phone)
        ctx.say(ctx._("Phone: {value}").format(value=phone))
    elif step == "email":
        try:
            email = validate_email(raw, check_deliverability=False).normalized
        except EmailNotValidError:
            _ask(ctx, ctx._("That e-mail address does not look right. Please check it, or "
                            "press \"Skip\"."))
            return
        _accept(ctx, step, email)
    else:
        _ask(ctx, ctx._("Please use the buttons below."))
        return
    _ask(ctx)


def _ask_phone_again(ctx: Context) -> None:
    _ask(ctx, ctx._("That does not look like a phone number. Please type it with the "
                    "country code, e.g. +7 7XX XXX XX XX."))


def _phone(raw: str, country: str | None) -> str | None:
    try:
        number = phonenumbers.parse(raw, country or None)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


@router.state(*(f"rg:{step}" for step in (*STEPS, "summary", "known")))
async def registration_text(ctx: Context) -> None:
    """Text typed during registration: the answer to the current step."""
    step = (ctx.state or "").removeprefix("rg:")
    if step in ("sector", "consent", "summary", "known") or "rg" not in _session(ctx):
        _ask(ctx, ctx._("Please use the buttons below."))
        return
    await _typed(ctx, step)


@router.fallback("contact", state="rg:phone")
async def shared_contact(ctx: Context) -> None:
    """A phone number shared with Telegram's button."""
    shared = ctx.event.phone
    phone = _phone(shared if shared.startswith("+") else f"+{shared}", None) \
        if shared else None
    if phone is None:
        _ask_phone_again(ctx)
        return
    _accept(ctx, "phone", phone)
    ctx.say(ctx._("Phone: {value}").format(value=phone))
    _ask(ctx)


@router.button(REGISTRATION)
async def registration_button(ctx: Context) -> None:
    press = ctx.press
    draft = _session(ctx).get("rg")
    if not ctx.state or not ctx.state.startswith("rg:") or not draft:
        show_menu(ctx, ctx._("That registration is no longer open. Here is the menu."))
        return
    step = ctx.state.removeprefix("rg:")
    if isinstance(press, StopRegistration):
        forum_id = draft.get("forum")
        ctx.reset()
        ctx.say(ctx._("Registration cancelled; nothing was saved."))
        if forum_id:
            await show_forum(ctx, forum_id)
        return
    if isinstance(press, UseKnown) and step == "known" and "known" in draft:
        draft["fields"] = dict(draft.pop("known"))
        _ask(ctx)
        return
    if isinstance(press, EnterFresh) and step == "known":
        draft.pop("known", None)
        _ask(ctx)
        return
    if isinstance(press, PickSector) and step == "sector" and press.sector in text.SECTORS:
        _accept(ctx, "sector", press.sector)
        _ask(ctx)
        return
    if isinstance(press, SkipEmail) and step == "email":
        _accept(ctx, "email", None)
        _ask(ctx)
        return
    if isinstance(press, Agree) and step == "consent":
        _accept(ctx, "consent", True)
        _ask(ctx)
        return
    if isinstance(press, EditDetail) and step == "summary":
        draft["editing"] = press.field
        _ask(ctx)
        return
    if isinstance(press, Submit) and step == "summary":
        await _submit(ctx, draft)
        return
    await older_step(ctx)


@router.fallback("stale", button=REGISTRATION)
async def older_step(ctx: Context) -> None:
    """A button from an earlier step (or an older version): ask the current one again."""
    if not ctx.state or not ctx.state.startswith("rg:") or "rg" not in _session(ctx):
        show_menu(ctx, ctx._("That registration is no longer open. Here is the menu."))
        return
    _ask(ctx, ctx._("That button belongs to an earlier step. Here is where we are:"))


async def _submit(ctx: Context, draft: RegistrationDraft) -> None:
    if "forum" not in draft:
        await older_step(ctx)
        return
    forum_id = draft["forum"]
    fields = {key: value for key, value in draft["fields"].items() if key != "consent"}
    moment = now()
    try:
        registration = await forums.register(ctx.db, forum_id, ctx.user.id, fields, moment,
                                             ctx.settings.reminder_offsets)
    except forums.ForumError as error:
        ctx.reset()
        messages = {
            "closed": ctx._("Sorry, registration for this forum has just closed."),
            "cancelled": ctx._("Sorry, this forum has been cancelled."),
            "already_registered": ctx._("You are already registered for this forum."),
        }
        ctx.say(messages.get(error.code, ctx._("Sorry, this forum is not available.")))
        await show_forum(ctx, forum_id)
        return
    ctx.reset()
    await remember_country(ctx.db, ctx.user.id, registration.country)
    forum = await forums.get(ctx.db, forum_id)
    assert forum is not None
    if registration.status == RegistrationStatus.CONFIRMED:
        ctx.say(ctx._("🎉 You are registered for \"{title}\"! Here is your ticket: show the QR "
                      "code at the entrance. I will remind you before the start.").format(
                          title=text.title(forum, ctx.language)))
        _send_ticket(ctx, forum, registration)
    else:
        position = await forums.waiting_position(ctx.db, registration)
        ctx.say(ctx._("All seats are taken, so you are on the waiting list: number {position}. "
                      "If a seat frees up, you get it automatically and I will tell you.")
                .format(position=position))
    ctx.say(ctx._("What next?"), FORUMS.choice(ctx._("🎟 My registrations"), MyRegistrations()),
            menu_button(ctx))


def _send_ticket(ctx: Context, forum: Any, registration: Registration) -> None:
    image, ics = text.ticket_attachments(forum, registration, ctx.t, ctx.bot_username)
    ctx.say(ctx._("🎟 Ticket: {title}\n{name}").format(
        title=text.title(forum, ctx.language), name=registration.full_name or ""),
        attachment=image)
    ctx.say(ctx._("📅 Add it to your calendar."), attachment=ics)


# ---- my registrations -------------------------------------------------------------------------


async def show_mine(ctx: Context, page: int = 0) -> None:
    ctx.reset()
    items, found = await forums.user_registrations(ctx.db, ctx.user.id, page, PAGE_SIZE)
    if not items:
        ctx.say(ctx._("You have no registrations yet."),
                FORUMS.choice(ctx._("📅 Forums"), ForumList()),
                menu_button(ctx))
        return
    lines = [" ".join(line for line in (ctx._("Your registrations:"), page_note(ctx, found))
                      if line)]
    buttons: list[Choice | list[Choice]] = []
    for registration, forum in items:
        status = ctx._("✅ confirmed") if registration.status == RegistrationStatus.CONFIRMED else \
            ctx._("⏳ waiting list")
        lines += ["", f"📅 {text.title(forum, ctx.language)}", f"🕙 {text.when(forum, ctx.t)}",
                  status]
        buttons.append(FORUMS.choice(text.short_label(forum, ctx.t),
                                     MyRegistration(registration.id)))
    if nav := page_row(ctx, found, FORUMS, lambda number: MyRegistrations(number)):
        buttons.append(nav)
    ctx.say("\n".join(lines), *buttons, FORUMS.choice(ctx._("⬅️ All forums"), ForumList()),
            menu_button(ctx))


async def _own(ctx: Context, registration_id: int | None) -> tuple[Registration, Any] | None:
    if registration_id is None:
        return None
    registration = await ctx.db.get(Registration, registration_id)
    if registration is None or registration.user_id != ctx.user.id:
        return None
    forum = await forums.get(ctx.db, registration.forum_id)
    return (registration, forum) if forum else None


async def show_registration(ctx: Context, registration_id: int | None) -> None:
    found = await _own(ctx, registration_id)
    if found is None or found[0].status not in forums.ACTIVE:
        await show_mine(ctx)
        return
    registration, forum = found
    ctx.reset()
    lines = [text.card(forum, ctx.t, now(), full=False), ""]
    if registration.status == RegistrationStatus.CONFIRMED:
        lines.append(ctx._("✅ Your seat is confirmed."))
        if registration.checked_in_at:
            lines.append(ctx._("You have checked in. Welcome!"))
    else:
        position = await forums.waiting_position(ctx.db, registration)
        lines.append(ctx._("⏳ You are on the waiting list: number {position}.").format(
            position=position))
    lines += ["", *_summary_lines(ctx, {field: getattr(registration, field)
                                        for field in forums.DETAIL_FIELDS})]
    buttons = []
    if registration.status == RegistrationStatus.CONFIRMED:
        buttons.append(FORUMS.choice(ctx._("🎟 Ticket"), Ticket(registration.id)))
    buttons.append(FORUMS.choice(ctx._("✖️ Cancel my registration"), CancelAsk(registration.id)))
    ctx.say("\n".join(lines), *buttons,
            FORUMS.choice(ctx._("⬅️ My registrations"), MyRegistrations()),
            menu_button(ctx))


@router.button(FORUMS)
async def forum_button(ctx: Context) -> None:
    match ctx.press:
        case ForumsIn(country=country):
            await show_list(ctx, _country(country))
        case ForumPage(page=page, country=country):
            await show_list(ctx, _country(country), page)
        case Countries(page=page):
            await show_countries(ctx, page or 0)
        case ForumView(forum=forum_id):
            await show_forum(ctx, forum_id)
        case Register(forum=forum_id):
            await start_registration(ctx, forum_id)
        case MyRegistrations(page=page):
            await show_mine(ctx, page or 0)
        case MyRegistration(registration=registration_id):
            await show_registration(ctx, registration_id)
        case Ticket(registration=registration_id):
            found = await _own(ctx, registration_id)
            if found is None or found[0].status != RegistrationStatus.CONFIRMED:
                await show_mine(ctx)
                return
            _send_ticket(ctx, found[1], found[0])
            ctx.say(ctx._("What next?"),
                    FORUMS.choice(ctx._("🎟 My registrations"), MyRegistrations()),
                    menu_button(ctx))
        case CancelAsk(registration=registration_id):
            await _cancel(ctx, registration_id, confirmed=False)
        case CancelConfirmed(registration=registration_id):
            await _cancel(ctx, registration_id, confirmed=True)
        case _:
            await show_list(ctx)


def _country(code: str | None) -> str | None:
    return code if code and len(code) == 2 and code.isalpha() else None


async def _cancel(ctx: Context, registration_id: int | None, confirmed: bool) -> None:
    found = await _own(ctx, registration_id)
    if found is None or found[0].status not in forums.ACTIVE:
        await show_mine(ctx)
        return
    registration, forum = found
    if not confirmed:
        ctx.say(ctx._("Cancel your registration for \"{title}\"? Your seat goes to the next "
                      "person in line.").format(title=text.title(forum, ctx.language)),
                FORUMS.choice(ctx._("✖️ Yes, cancel it"), CancelConfirmed(registration.id)),
                FORUMS.choice(ctx._("No, keep it"), MyRegistration(registration.id)))
        return
    await forums.cancel(ctx.db, registration, now(), ctx.settings.reminder_offsets)
    ctx.say(ctx._("Your registration is cancelled. Reminders are off."))
    await show_mine(ctx)


# ---- check-in -----------------------------------------------------------------------------


async def check_in(ctx: Context, secret: str) -> None:
    """A ticket's QR code opened the bot: coordinators check the attendee in."""
    if not ctx.user.is_coordinator:
        show_menu(ctx, ctx._("This is a ticket code. Only the forum's coordinators can check "
                             "tickets."))
        return
    result = await forums.check_in(ctx.db, secret, ctx.user.id, now())
    log.info("check-in by user %s: %s", ctx.user.id, result.outcome)
    ctx.reset()
    registration, forum = result.registration, result.forum
    if registration is None or forum is None:
        ctx.say(ctx._("❌ Unknown ticket. Ask for the name and check the list."), menu_button(ctx))
        return
    who = "\n".join([f"👤 {registration.full_name or '—'}",
                     f"🏢 {registration.organization or '—'}",
                     f"📅 {text.title(forum, ctx.language)}"])
    if result.outcome == "checked_in":
        head = ctx._("✅ Checked in. Welcome!")
    elif result.outcome == "already":
        assert registration.checked_in_at is not None
        head = ctx._("⚠️ Already checked in at {time}.").format(
            time=formats.date_time(forums.local(forum, registration.checked_in_at),
                                   ctx.language))
    elif result.outcome == "waiting":
        head = ctx._("⏳ This person is on the waiting list, not confirmed.")
    else:
        head = ctx._("❌ This registration is cancelled.")
    ctx.say(f"{head}\n\n{who}", menu_button(ctx))


@router.notice("reminder")
def reminder_notice(t: Translator, *, kind: str, forum: Forum, registration: Registration,
                    now: datetime) -> list[Reply]:
    """A reminder or notice of a registration, for the scheduler (bot/runner.py)."""
    return [text.reminder(kind, forum, registration, t, now)]
