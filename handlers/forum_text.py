"""How forums are shown: titles, dates in the forum's own time zone, seats; tickets
(QR code and calendar file) and the wording of reminders and notices."""

from __future__ import annotations

import io
from datetime import datetime, timedelta

import segno

from bot.clock import as_utc
from bot.core import formats, scripts
from bot.core.i18n import N_, Translator
from bot.core.replies import Attachment, Reply
from bot.db.models import Forum, ForumStatus, Registration, RegistrationStatus
from bot.services import forums
from bot.services.eligibility import country_name

LANGUAGE_NAMES = {"kk": N_("in Kazakh"), "ru": N_("in Russian"), "en": N_("in English")}

SECTORS: dict[str, str] = {
    "trade": N_("Trade"),
    "manufacturing": N_("Manufacturing"),
    "agriculture": N_("Agriculture"),
    "it": N_("IT and telecom"),
    "construction": N_("Construction"),
    "education": N_("Education and science"),
    "tourism": N_("Tourism and hospitality"),
    "finance": N_("Finance and law"),
    "culture": N_("Culture and media"),
    "other": N_("Other"),
}


def _localized(texts: dict[str, str], language: str, default: str = "") -> str:
    return scripts.pick(texts, language) or next(iter(texts.values()), default)


def title(forum: Forum, language: str) -> str:
    return _localized(forum.title, language, forum.slug)


def city(forum: Forum, language: str) -> str:
    return _localized(forum.city, language)


def venue(forum: Forum, language: str) -> str:
    return _localized(forum.venue, language)


def when(forum: Forum, t: Translator) -> str:
    """`March 12, 2027, 10:00 AM–6:00 PM (local time, UTC+1)`, in the forum's time zone."""
    start = forums.local(forum, forum.starts_at)
    end = forums.local(forum, forum.ends_at)
    return t._("{dates} (local time, {zone})").format(
        dates=formats.time_span(start, end, t.locale), zone=formats.utc_offset(start))


def short_label(forum: Forum, t: Translator) -> str:
    start = forums.local(forum, forum.starts_at)
    label = f"{city(forum, t.locale)} · {formats.day(start, t.locale)}"
    return label[:24]


def seats_line(forum: Forum, t: Translator, now: datetime) -> str:
    if forum.status == ForumStatus.CANCELLED:
        return t._("❌ Cancelled")
    if not forums.registration_open(forum, now):
        return t._("Registration is closed")
    left = forums.seats_left(forum)
    if left == 0:
        return t._("No seats left: you can join the waiting list")
    return t.ngettext("{count} seat left", "{count} seats left", left).format(count=left)


def card(forum: Forum, t: Translator, now: datetime, full: bool = False) -> str:
    lines = [f"📅 {title(forum, t.locale)}",
             f"📍 {city(forum, t.locale)}, {country_name(forum.country, t.locale)}",
             f"🕙 {when(forum, t)}",
             "🗣 " + t._("Held {language}").format(
                 language=t._(LANGUAGE_NAMES.get(forum.event_language, "in English"))),
             "🎟 " + seats_line(forum, t, now)]
    if full:
        lines.insert(2, f"🏛 {venue(forum, t.locale)}")
        description = scripts.pick(forum.description, t.locale) or ""
        if description:
            lines += ["", description]
        deadline = forums.local(forum, forum.deadline)
        lines.append("")
        lines.append(t._("Registration until {date}").format(
            date=formats.date_time(deadline, t.locale)))
    return "\n".join(lines)


def ticket_link(secret: str, bot_username: str | None) -> str:
    """What the QR code holds: a Telegram deep link that opens the bot for check-in."""
    code = f"ci_{secret}"
    return f"https://t.me/{bot_username}?start={code}" if bot_username else code


def ticket_attachments(forum: Forum, registration: Registration, t: Translator,
                       bot_username: str | None) -> tuple[Attachment, Attachment]:
    assert registration.ticket_secret is not None
    qr = segno.make(ticket_link(registration.ticket_secret, bot_username), error="m")
    image = io.BytesIO()
    qr.save(image, kind="png", scale=8, border=4)
    return (Attachment(f"ticket-{forum.slug}.png", image.getvalue(), "image/png"),
            Attachment(f"{forum.slug}.ics", calendar(forum, t), "text/calendar"))


def calendar(forum: Forum, t: Translator) -> bytes:
    """An .ics file with the event in its own time zone."""
    from icalendar import Calendar, Event  # only for tickets: kept out of every start

    cal = Calendar()
    cal.add("prodid", "-//Otandastar//Forum bot//EN")
    cal.add("version", "2.0")
    event = Event()
    event.add("uid", f"forum-{forum.id}-{forum.slug}@otandastar-bot")
    event.add("summary", title(forum, t.locale))
    event.add("dtstart", forums.local(forum, forum.starts_at))
    event.add("dtend", forums.local(forum, forum.ends_at))
    event.add("dtstamp", as_utc(forum.updated_at))
    event.add("location", f"{venue(forum, t.locale)}, {city(forum, t.locale)}")
    description = forum.description.get(t.locale)
    if description:
        event.add("description", description)
    cal.add_component(event)
    cal.add_missing_timezones()
    return cal.to_ical()


def place(forum: Forum, t: Translator) -> str:
    return f"{venue(forum, t.locale)}, {city(forum, t.locale)}"


def _until(t: Translator, left: timedelta) -> str:
    hours = int(left.total_seconds() // 3600)
    if hours >= 48:
        days = round(left.total_seconds() / 86400)
        return t.ngettext("in {count} day", "in {count} days", days).format(count=days)
    if hours >= 20:
        return t._("tomorrow")
    hours = max(1, hours)
    return t.ngettext("in {count} hour", "in {count} hours", hours).format(count=hours)


def reminder(kind: str, forum: Forum, registration: Registration, t: Translator,
             now: datetime) -> Reply:
    """The words of a reminder or notice, from the actual time left (a late reminder
    after a downtime says the truth)."""
    name = title(forum, t.locale)
    if kind == "before":
        left = as_utc(forum.starts_at) - now
        text = t._("⏰ Reminder: \"{title}\" starts {when}.").format(
            title=name, when=_until(t, left))
        text += f"\n\n🕙 {when(forum, t)}\n🏛 {place(forum, t)}\n\n"
        text += t._("Your ticket is in \"My registrations\". See you there!")
    elif kind == "promoted":
        text = t._("🎉 A seat has opened up: your registration for \"{title}\" is confirmed. "
                   "Your ticket is in \"My registrations\".").format(title=name)
    elif kind == "changed":
        text = t._("ℹ️ \"{title}\" has changed. Now:").format(title=name)
        text += f"\n🕙 {when(forum, t)}\n🏛 {place(forum, t)}"
        if registration.status == RegistrationStatus.WAITING:
            text += "\n\n" + t._("You are still on the waiting list.")
    else:
        text = t._("❌ \"{title}\" is cancelled. We are sorry. Your registration is "
                   "closed; nothing else is needed from you.").format(title=name)
    return Reply(text=text)
