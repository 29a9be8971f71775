"""Coordinators' announcements: compose (a text per language or one for all, a photo or
document, a link button), choose the audience with the number of recipients shown,
preview each language, send now or at a time, follow the numbers, cancel.

Every action checks the role and is logged. Buttons: `BROADCASTS` in
handlers/payloads.py; states `bc:…`. The draft is a `broadcasts` row from the first
text on (the file's bytes never go into the session); the session keeps only its id
and the step (`ComposeSession`).
"""

from __future__ import annotations

import logging
import mimetypes
from datetime import datetime
from typing import TypedDict, cast
from zoneinfo import ZoneInfo

from bot import LANGUAGES
from bot.clock import now
from bot.core import formats
from bot.core.context import Context
from bot.core.events import EventKind
from bot.core.i18n import Translator
from bot.core.replies import Choice, Reply
from bot.core.router import Router
from bot.db.models import Broadcast, BroadcastStatus, Forum
from bot.services import broadcasts, forums
from bot.services.broadcasts import ALL, Audience, Report, audience_of, filters
from bot.services.eligibility import country_name, match_country
from handlers import forum_text
from handlers.common import LANGUAGE_NAMES, PAGE_SIZE, menu_button, page_note, page_row
from handlers.common import refuse_unless_coordinator as _refuse
from handlers.payloads import (
    ADMIN,
    BROADCASTS,
    AdminForums,
    Announcements,
    AudienceScreen,
    CancelAnnouncement,
    Everyone,
    ForumAttendees,
    ForumChoicePage,
    NewAnnouncement,
    NoButton,
    NoFile,
    OneText,
    Preview,
    SendAsk,
    SendNow,
    TextEach,
    ToggleChannel,
    ToggleForumStatus,
    ToggleLanguage,
    ToggleVerdict,
    ViewAnnouncement,
)

log = logging.getLogger(__name__)
router = Router("broadcast_admin")

ZONE = ZoneInfo("Asia/Almaty")  # Kazakhstan, UTC+5
TIME_FORMATS = ("%Y-%m-%d %H:%M", "%d.%m.%Y %H:%M", "%Y-%m-%dT%H:%M", "%d/%m/%Y %H:%M")
CHANNEL_NAMES = {"telegram": "Telegram", "whatsapp": "WhatsApp"}


class ComposeSession(TypedDict, total=False):
    """The session data while composing (`ctx.data`)."""

    texts: dict[str, str]  # by language, or ALL; until the draft row exists
    bc: int  # the draft's id


def _session(ctx: Context) -> ComposeSession:
    return cast(ComposeSession, ctx.data)


def _audit(ctx: Context, action: str, broadcast_id: int | None = None) -> None:
    log.info("coordinator %s: broadcast %s%s", ctx.user.id, action,
             f" #{broadcast_id}" if broadcast_id else "")


def _time(t: Translator, value: datetime | None) -> str:
    if value is None:
        return "—"
    return formats.date_time(value.astimezone(ZONE), t.locale)


def _status(t: Translator, status: str) -> str:
    words: dict[str, str] = {
        BroadcastStatus.DRAFT: t._("draft"), BroadcastStatus.SCHEDULED: t._("scheduled"),
        BroadcastStatus.SENDING: t._("sending"), BroadcastStatus.DONE: t._("done"),
        BroadcastStatus.CANCELLED: t._("cancelled")}
    return words.get(status, status)


def _verdict(ctx: Context, verdict: str) -> str:
    return {"eligible": ctx._("eligible"), "needs_checking": ctx._("needs checking"),
            "not_eligible": ctx._("not eligible")}.get(verdict, verdict)


def _forum_status(ctx: Context, status: str) -> str:
    return {"registered": ctx._("registered"), "waiting": ctx._("waiting list"),
            "checked_in": ctx._("checked in")}.get(status, status)


def report_text(t: Translator, report: Report) -> str:
    """The numbers of one broadcast (the list, its screen, the final report)."""
    broadcast = report.broadcast
    lines = [t._("📣 Announcement #{id} · {status}").format(
        id=broadcast.id, status=_status(t, broadcast.status))]
    if broadcast.status == BroadcastStatus.SCHEDULED:
        lines.append(t._("Scheduled for {time} (Astana time)").format(
            time=_time(t, broadcast.scheduled_at)))
    lines.append(t._("Recipients {total} · sent {sent} · delivered {delivered} · read {read}")
                 .format(total=broadcast.total, sent=report.sent, delivered=report.delivered,
                         read=report.read))
    lines.append(t._("Failed {failed} · blocked {blocked} · opted out {opted_out} · "
                     "waiting {pending}").format(
        failed=report.failed, blocked=report.blocked + report.excluded.get("unreachable", 0),
        opted_out=report.excluded.get("opted_out", 0), pending=report.pending))
    for reason, number in sorted(report.failed_reasons.items()):
        lines.append(f"  · {reason}: {number}")
    if report.duration is not None:
        minutes, seconds = divmod(int(report.duration.total_seconds()), 60)
        lines.append(t._("Duration {minutes} min {seconds} s").format(minutes=minutes,
                                                                      seconds=seconds))
    return "\n".join(lines)


@router.notice("broadcast_sent")
def sent_notice(t: Translator, *, report: Report) -> list[Reply]:
    """The final report, to the coordinator who wrote the broadcast (bot/runner.py)."""
    return [Reply(t._("The announcement has been sent.") + "\n\n" + report_text(t, report))]


# ---- the list and one broadcast -------------------------------------------------------------


@router.command("broadcasts")
async def broadcasts_command(ctx: Context) -> None:
    if _refuse(ctx):
        return
    _audit(ctx, "list")
    await show_list(ctx)


async def show_list(ctx: Context, page: int = 0) -> None:
    ctx.reset()
    items, found = await broadcasts.listing(ctx.db, page, PAGE_SIZE)
    blocks = [" ".join(line for line in (ctx._("📣 Announcements"), page_note(ctx, found))
                       if line)]
    buttons: list[Choice | list[Choice]] = []
    moment = now()
    for broadcast in items:
        blocks.append(report_text(ctx.t, await broadcasts.report(ctx.db, broadcast, moment)))
        buttons.append(Choice(ctx._("#{id} · {status}").format(
            id=broadcast.id, status=_status(ctx.t, broadcast.status)),
            BROADCASTS.build(ViewAnnouncement(broadcast.id))))
    if not items:
        blocks.append(ctx._("No announcements yet."))
    if nav := page_row(ctx, found, BROADCASTS, lambda number: Announcements(number)):
        buttons.append(nav)
    buttons.append(BROADCASTS.choice(ctx._("➕ New announcement"), NewAnnouncement()))
    buttons.append([ADMIN.choice(ctx._("🛠 Coordinator tools"), AdminForums()),
                    menu_button(ctx)])
    ctx.say("\n\n".join(blocks), *buttons)


async def show_one(ctx: Context, broadcast: Broadcast, lead: str | None = None) -> None:
    ctx.reset()
    text = report_text(ctx.t, await broadcasts.report(ctx.db, broadcast, now()))
    buttons: list[Choice | list[Choice]] = [
        BROADCASTS.choice(ctx._("🔄 Refresh"), ViewAnnouncement(broadcast.id))]
    if broadcast.status in (BroadcastStatus.SCHEDULED, BroadcastStatus.SENDING):
        buttons.append(BROADCASTS.choice(ctx._("⛔ Cancel the announcement"),
                                         CancelAnnouncement(broadcast.id)))
    buttons.append([BROADCASTS.choice(ctx._("⬅️ Announcements"), Announcements()),
                    menu_button(ctx)])
    ctx.say(f"{lead}\n\n{text}" if lead else text, *buttons)


# ---- composing ----------------------------------------------------------------------------


def _draft_id(ctx: Context) -> int | None:
    value = _session(ctx).get("bc")
    return value if isinstance(value, int) else None


async def _draft(ctx: Context) -> Broadcast | None:
    draft_id = _draft_id(ctx)
    if draft_id is None:
        return None
    broadcast = await ctx.db.get(Broadcast, draft_id)
    if broadcast is None or broadcast.status != BroadcastStatus.DRAFT:
        return None
    return broadcast


async def _editing(ctx: Context) -> Broadcast | None:
    """The draft a coordinator is composing; None (after saying why) otherwise."""
    if _refuse(ctx):
        return None
    broadcast = await _draft(ctx)
    if broadcast is None:
        await show_list(ctx)
    return broadcast


def _ask_text(ctx: Context, language: str) -> None:
    ctx.goto(f"bc:text:{language}")
    prompt = ctx._("Type the announcement's text for everyone:") if language == ALL else \
        ctx._("Type the announcement's text in {language}:").format(
            language=LANGUAGE_NAMES[language])
    ctx.say(prompt, BROADCASTS.choice(ctx._("⬅️ Announcements"), Announcements()))


def _ask_file(ctx: Context) -> None:
    ctx.goto("bc:file")
    ctx.say(ctx._("Send a photo or a document to go with it, or skip."),
            BROADCASTS.choice(ctx._("➡️ No file"), NoFile()))


def _ask_url(ctx: Context) -> None:
    ctx.goto("bc:url")
    ctx.say(ctx._("A link button under the message? Type its address (https://…), or skip."),
            BROADCASTS.choice(ctx._("➡️ No button"), NoButton()))


def _ask_label(ctx: Context, language: str) -> None:
    ctx.goto(f"bc:label:{language}")
    prompt = ctx._("The button's label (at most 30 characters):") if language == ALL else \
        ctx._("The button's label in {language} (at most 30 characters):").format(
            language=LANGUAGE_NAMES[language])
    ctx.say(prompt)


def _next_language(texts: dict[str, str]) -> str | None:
    if ALL in texts:
        return None
    return next((code for code in LANGUAGES if code not in texts), None)


@router.state("bc:text:*", "bc:text:kk", "bc:text:ru", "bc:text:en")
async def text_step(ctx: Context) -> None:
    if _refuse(ctx):
        return
    language = (ctx.state or "").rsplit(":", 1)[-1]
    value = ctx.event.text.strip()
    if not value or len(value) > broadcasts.TEXT_LIMIT:
        ctx.say(ctx._("The text must be 1 to 4096 characters long. Please type it again."))
        return
    texts: dict[str, str] = dict(_session(ctx).get("texts") or {})
    texts[language] = value
    _session(ctx)["texts"] = texts
    following = _next_language(texts)
    if following is not None:
        _ask_text(ctx, following)
        return
    broadcast = await broadcasts.create(ctx.db, created_by=ctx.user.id, texts=texts,
                                        audience={})
    _session(ctx)["bc"] = broadcast.id
    _audit(ctx, "draft", broadcast.id)
    _ask_file(ctx)


@router.state("bc:file", files=True)
async def file_step(ctx: Context) -> None:
    broadcast = await _editing(ctx)
    if broadcast is None:
        return
    inbound = ctx.event.file
    # The sender fetches the file through the Telegram Bot API (`Sender.fetch_file`).
    if ctx.event.kind is not EventKind.FILE or inbound is None or \
            ctx.user.channel != "telegram":
        ctx.say(ctx._("Please send a photo or a document, or skip."),
                BROADCASTS.choice(ctx._("➡️ No file"), NoFile()))
        return
    audience = audience_of(broadcast)
    audience["_file"] = {"ref": inbound.ref, "kind": inbound.kind}
    broadcast.audience = dict(audience)
    broadcast.attachment_kind = inbound.kind
    broadcast.attachment_name = inbound.name or ("photo.jpg" if inbound.kind == "photo"
                                                 else "document")
    broadcast.attachment_mime = "image/jpeg" if inbound.kind == "photo" else (
        mimetypes.guess_type(broadcast.attachment_name)[0] or "application/octet-stream")
    _audit(ctx, f"attach {inbound.kind}", broadcast.id)
    _ask_url(ctx)


@router.state("bc:url")
async def url_step(ctx: Context) -> None:
    broadcast = await _editing(ctx)
    if broadcast is None:
        return
    url = ctx.event.text.strip()
    if not url.startswith(("https://", "http://")) or " " in url or len(url) > 500:
        ctx.say(ctx._("That does not look like a web address. Type one starting with "
                      "https://, or skip."), BROADCASTS.choice(ctx._("➡️ No button"), NoButton()))
        return
    broadcast.button_url = url
    broadcast.button_labels = {}
    _ask_label(ctx, ALL if ALL in (broadcast.texts or {}) else LANGUAGES[0])


@router.state("bc:label:*", "bc:label:kk", "bc:label:ru", "bc:label:en")
async def label_step(ctx: Context) -> None:
    broadcast = await _editing(ctx)
    if broadcast is None:
        return
    label = ctx.event.text.strip()
    if not label or len(label) > 30:
        ctx.say(ctx._("The label must be 1 to 30 characters long. Please type it again."))
        return
    language = (ctx.state or "").rsplit(":", 1)[-1]
    labels = dict(broadcast.button_labels or {})
    labels[language] = label
    broadcast.button_labels = labels
    following = _next_language(labels)
    if following is not None:
        _ask_label(ctx, following)
        return
    _audit(ctx, "button", broadcast.id)
    await show_audience(ctx, broadcast)


# ---- the audience -------------------------------------------------------------------------


def _mark(on: bool, label: str) -> str:
    return f"✅ {label}" if on else label


async def _describe(ctx: Context, audience: Audience) -> str:
    parts: list[str] = []
    if audience.get("languages"):
        parts.append(", ".join(LANGUAGE_NAMES[code] for code in audience["languages"]))
    if audience.get("channels"):
        parts.append(", ".join(CHANNEL_NAMES[code] for code in audience["channels"]))
    if audience.get("countries"):
        parts.append(", ".join(country_name(code, ctx.language)
                               for code in audience["countries"]))
    if audience.get("forum"):
        forum = await ctx.db.get(Forum, audience["forum"])
        statuses = audience.get("forum_statuses") or list(broadcasts.FORUM_STATUSES)
        if forum is not None:
            parts.append(f"{forum_text.title(forum, ctx.language)} ("
                         + ", ".join(_forum_status(ctx, s) for s in statuses) + ")")
    if audience.get("verdicts"):
        parts.append(", ".join(_verdict(ctx, v) for v in audience["verdicts"]))
    return " · ".join(parts) if parts else ctx._("everyone")


async def show_audience(ctx: Context, broadcast: Broadcast, lead: str | None = None) -> None:
    ctx.goto("bc:country")
    audience = filters(audience_of(broadcast))
    number = await broadcasts.count(ctx.db, audience, ctx.settings.default_locale)
    text = ctx._("Who gets it: {audience}\nRecipients: {number}\n\nTap to combine filters; "
                 "type a country's name to add it.").format(
        audience=await _describe(ctx, audience), number=number)
    languages = audience.get("languages") or []
    channels = audience.get("channels") or []
    verdicts = audience.get("verdicts") or []
    rows: list[Choice | list[Choice]] = [
        [BROADCASTS.choice(_mark(code in languages, LANGUAGE_NAMES[code]),
                           ToggleLanguage(code))  # type: ignore[arg-type]
         for code in LANGUAGES],
        [BROADCASTS.choice(_mark(code in channels, name),
                           ToggleChannel(code))  # type: ignore[arg-type]
         for code, name in CHANNEL_NAMES.items()],
        [BROADCASTS.choice(_mark(v in verdicts, _verdict(ctx, v)),
                           ToggleVerdict(v))  # type: ignore[arg-type]
         for v in broadcasts.VERDICTS],
        BROADCASTS.choice(ctx._("📅 Forum attendees…"), ForumAttendees()),
    ]
    if audience.get("forum"):
        statuses = audience.get("forum_statuses") or []
        rows.append([BROADCASTS.choice(_mark(s in statuses, _forum_status(ctx, s)),
                                       ToggleForumStatus(s))  # type: ignore[arg-type]
                     for s in broadcasts.FORUM_STATUSES])
    rows += [BROADCASTS.choice(ctx._("♻️ Everyone (clear filters)"), Everyone()),
             [BROADCASTS.choice(ctx._("👁 Preview"), Preview()),
              BROADCASTS.choice(ctx._("➡️ Send…"), SendAsk())]]
    ctx.say(f"{lead}\n\n{text}" if lead else text, *rows)


def _toggle(values: list[str], value: str) -> list[str]:
    return [v for v in values if v != value] if value in values else [*values, value]


@router.state("bc:country")
async def country_step(ctx: Context) -> None:
    broadcast = await _editing(ctx)
    if broadcast is None:
        return
    code = match_country(ctx.content.eligibility.rules, ctx.event.text)
    if code is None:
        await show_audience(ctx, broadcast, ctx._("I do not know that country."))
        return
    audience = audience_of(broadcast)
    audience["countries"] = _toggle(list(audience.get("countries") or []), code)
    broadcast.audience = dict(audience)
    await show_audience(ctx, broadcast)


# ---- the buttons --------------------------------------------------------------------------


@router.button(BROADCASTS)
async def button(ctx: Context) -> None:
    if _refuse(ctx):
        return
    press = ctx.press
    if isinstance(press, Announcements):
        await show_list(ctx, press.page or 0)
        return
    if isinstance(press, NewAnnouncement):
        ctx.reset()
        ctx.goto("bc:mode")
        _audit(ctx, "new")
        ctx.say(ctx._("A new announcement. One text for all languages, or a text for each?"),
                BROADCASTS.choice(ctx._("One text for all"), OneText()),
                BROADCASTS.choice(ctx._("A text for each language"), TextEach()),
                BROADCASTS.choice(ctx._("⬅️ Announcements"), Announcements()))
        return
    if isinstance(press, OneText | TextEach):
        ctx.reset()
        _session(ctx)["texts"] = {}
        _ask_text(ctx, ALL if isinstance(press, OneText) else LANGUAGES[0])
        return
    if isinstance(press, ViewAnnouncement | CancelAnnouncement):
        broadcast = await ctx.db.get(Broadcast, press.broadcast)
        if broadcast is None:
            await show_list(ctx)
            return
        if isinstance(press, CancelAnnouncement):
            try:
                await broadcasts.cancel(ctx.db, broadcast.id, now(), by=ctx.user.id)
            except broadcasts.BroadcastError:
                await show_one(ctx, broadcast, ctx._("It can no longer be cancelled."))
                return
            _audit(ctx, "cancel", broadcast.id)
            await show_one(ctx, broadcast, ctx._("Cancelled: nothing more will be sent."))
            return
        _audit(ctx, "view", broadcast.id)
        await show_one(ctx, broadcast)
        return
    broadcast = await _draft(ctx)
    if broadcast is None:
        await show_list(ctx)
        return
    await _draft_button(ctx, broadcast, press)


@router.fallback("stale", button=BROADCASTS)
async def older_button(ctx: Context) -> None:
    """A button this version no longer reads: the draft's audience, or the list."""
    if _refuse(ctx):
        return
    broadcast = await _draft(ctx)
    if broadcast is None:
        await show_list(ctx)
        return
    await show_audience(ctx, broadcast)


async def _choose_forum(ctx: Context, page: int) -> None:
    """A page of the forums (but drafts) whose attendees an announcement may go to."""
    items, found = await forums.all_forums(ctx.db, page, PAGE_SIZE, drafts=False)
    lead = ctx._("Which forum's attendees?") if items else ctx._("No forums yet.")
    ctx.say(" ".join(line for line in (lead, page_note(ctx, found)) if line),
            *[BROADCASTS.choice(forum_text.short_label(forum, ctx.t), ForumAttendees(forum.id))
              for forum in items],
            page_row(ctx, found, BROADCASTS, lambda number: ForumChoicePage(number)),
            BROADCASTS.choice(ctx._("⬅️ Back"), AudienceScreen()))


def _toggled(audience: Audience, press: object) -> Audience | None:
    """The audience with one filter value switched, for a toggle button; else None."""
    changed = audience.copy()
    match press:
        case ToggleLanguage(code=value):
            changed["languages"] = _toggle(list(audience.get("languages") or []), value)
        case ToggleChannel(channel=value):
            changed["channels"] = _toggle(list(audience.get("channels") or []), value)
        case ToggleVerdict(verdict=value):
            changed["verdicts"] = _toggle(list(audience.get("verdicts") or []), value)
        case ToggleForumStatus(status=value):
            changed["forum_statuses"] = _toggle(list(audience.get("forum_statuses") or []),
                                                value)
        case _:
            return None
    return changed


async def _draft_button(ctx: Context, broadcast: Broadcast, press: object) -> None:
    if isinstance(press, NoFile):
        _ask_url(ctx)
        return
    if isinstance(press, NoButton):
        broadcast.button_url, broadcast.button_labels = None, None
        await show_audience(ctx, broadcast)
        return
    record = audience_of(broadcast)
    toggled = _toggled(record, press)
    if toggled is not None:
        broadcast.audience = {**record, **toggled}
        await show_audience(ctx, broadcast)
        return
    if isinstance(press, Everyone):
        broadcast.audience = {key: value for key, value in record.items()
                              if key not in filters(record)}
        await show_audience(ctx, broadcast)
        return
    if isinstance(press, ForumAttendees):
        if press.forum is not None:
            record["forum"] = press.forum
            record["forum_statuses"] = []
            broadcast.audience = dict(record)
            await show_audience(ctx, broadcast)
            return
        await _choose_forum(ctx, 0)
        return
    if isinstance(press, ForumChoicePage):
        await _choose_forum(ctx, press.page)
        return
    if isinstance(press, Preview):
        _audit(ctx, "preview", broadcast.id)
        for language in LANGUAGES:
            ctx.say(ctx._("Preview: {language}").format(language=LANGUAGE_NAMES[language]))
            message = broadcasts.compose(broadcast, language)
            if broadcast.attachment_kind:
                ctx.say(ctx._("📎 With the photo or document you sent."))
            ctx.replies.append(message)
        await show_audience(ctx, broadcast)
        return
    if isinstance(press, SendAsk):
        number = await broadcasts.count(ctx.db, filters(record), ctx.settings.default_locale)
        ctx.goto("bc:when")
        ctx.say(ctx.ngettext("{number} recipient. Send now, or type a time to send it "
                             "(Astana time, e.g. 2026-12-01 10:00).",
                             "{number} recipients. Send now, or type a time to send it "
                             "(Astana time, e.g. 2026-12-01 10:00).", number)
                .format(number=ctx.t.number(number)),
                BROADCASTS.choice(ctx._("🚀 Send now"), SendNow()),
                BROADCASTS.choice(ctx._("⬅️ Back"), AudienceScreen()))
        return
    if isinstance(press, SendNow):
        await _schedule(ctx, broadcast, now())
        return
    await show_audience(ctx, broadcast)  # AudienceScreen, or a button of an earlier step


async def _schedule(ctx: Context, broadcast: Broadcast, when: datetime) -> None:
    await broadcasts.schedule(ctx.db, broadcast.id, when, by=ctx.user.id)
    ctx.emit(broadcasts.Scheduled(broadcast.id))
    _audit(ctx, f"schedule {when.isoformat()}", broadcast.id)
    lead = ctx._("Scheduled for {time} (Astana time).").format(time=_time(ctx.t, when)) \
        if when > now() else ctx._("Sending has started. Refresh to follow the numbers.")
    await show_one(ctx, broadcast, lead)


@router.state("bc:when")
async def when_step(ctx: Context) -> None:
    broadcast = await _editing(ctx)
    if broadcast is None:
        return
    raw = ctx.event.text.strip()
    for pattern in TIME_FORMATS:
        try:
            when = datetime.strptime(raw, pattern).replace(tzinfo=ZONE)
        except ValueError:
            continue
        if when <= now():
            ctx.say(ctx._("That time has passed. Type a later one, or send now."),
                    BROADCASTS.choice(ctx._("🚀 Send now"), SendNow()))
            return
        await _schedule(ctx, broadcast, when)
        return
    ctx.say(ctx._("Please type the time as YYYY-MM-DD HH:MM (Astana time)."),
            BROADCASTS.choice(ctx._("🚀 Send now"), SendNow()))
