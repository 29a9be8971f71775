"""Coordinators' announcements: compose (a text per language or one for all, a photo or
document, a link button), choose the audience with the number of recipients shown,
preview each language, send now or at a time, follow the numbers, cancel.

Every action checks the role and is logged. Payloads `bc…`; states `bc:…`. The draft
is a `broadcasts` row from the first text on (the file's bytes never go into the
session); the session keeps only its id and the step.
"""

from __future__ import annotations

import logging
import mimetypes
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from babel.dates import format_datetime

from bot import LANGUAGES
from bot.core.context import Context
from bot.core.events import EventKind
from bot.core.i18n import Translator
from bot.core.replies import Choice
from bot.core.router import Router
from bot.db.models import Broadcast, Forum
from bot.services import broadcasts, forums
from bot.services.broadcasts import ALL, Report
from bot.services.clock import now
from bot.services.eligibility import country_name, match_country
from handlers import forum_text
from handlers.common import LANGUAGE_NAMES, menu_button
from handlers.common import refuse_unless_coordinator as _refuse

log = logging.getLogger(__name__)
router = Router("broadcast_admin")

ZONE = ZoneInfo("Asia/Almaty")  # Kazakhstan, UTC+5
TIME_FORMATS = ("%Y-%m-%d %H:%M", "%d.%m.%Y %H:%M", "%Y-%m-%dT%H:%M", "%d/%m/%Y %H:%M")
CHANNEL_NAMES = {"telegram": "Telegram", "whatsapp": "WhatsApp"}
FILE_KEY = "_file"  # in `Broadcast.audience`: the Telegram file of a photo or document


def _audit(ctx: Context, action: str, broadcast_id: int | None = None) -> None:
    log.info("coordinator %s: broadcast %s%s", ctx.user.id, action,
             f" #{broadcast_id}" if broadcast_id else "")


def _time(t: Translator, value: datetime | None) -> str:
    if value is None:
        return "—"
    return format_datetime(value.astimezone(ZONE), "d MMM y, HH:mm", locale=t.locale)


def _status(t: Translator, status: str) -> str:
    return {"draft": t._("draft"), "scheduled": t._("scheduled"),
            "sending": t._("sending"), "done": t._("done"),
            "cancelled": t._("cancelled")}.get(status, status)


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
    if broadcast.status == "scheduled":
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


# ---- the list and one broadcast -------------------------------------------------------------


@router.command("broadcasts")
async def broadcasts_command(ctx: Context) -> None:
    if _refuse(ctx):
        return
    _audit(ctx, "list")
    await show_list(ctx)


async def show_list(ctx: Context) -> None:
    ctx.reset()
    items = await broadcasts.listing(ctx.db)
    blocks = [ctx._("📣 Announcements")]
    buttons: list[Choice | list[Choice]] = []
    moment = now()
    for broadcast in items:
        blocks.append(report_text(ctx.t, await broadcasts.report(ctx.db, broadcast, moment)))
        buttons.append(Choice(ctx._("#{id} · {status}").format(
            id=broadcast.id, status=_status(ctx.t, broadcast.status)), f"bc:v:{broadcast.id}"))
    if not items:
        blocks.append(ctx._("No announcements yet."))
    buttons.append(Choice(ctx._("➕ New announcement"), "bc:new"))
    buttons.append([Choice(ctx._("🛠 Coordinator tools"), "ad"), menu_button(ctx)])
    ctx.say("\n\n".join(blocks), *buttons)


async def show_one(ctx: Context, broadcast: Broadcast, lead: str | None = None) -> None:
    ctx.reset()
    text = report_text(ctx.t, await broadcasts.report(ctx.db, broadcast, now()))
    buttons: list[Choice | list[Choice]] = [Choice(ctx._("🔄 Refresh"), f"bc:v:{broadcast.id}")]
    if broadcast.status in ("scheduled", "sending"):
        buttons.append(Choice(ctx._("⛔ Cancel the announcement"), f"bc:cx:{broadcast.id}"))
    buttons.append([Choice(ctx._("⬅️ Announcements"), "bc"), menu_button(ctx)])
    ctx.say(f"{lead}\n\n{text}" if lead else text, *buttons)


# ---- composing ----------------------------------------------------------------------------


def _draft_id(ctx: Context) -> int | None:
    value = ctx.data.get("bc")
    return int(value) if isinstance(value, int) else None


async def _draft(ctx: Context) -> Broadcast | None:
    draft_id = _draft_id(ctx)
    if draft_id is None:
        return None
    broadcast = await ctx.db.get(Broadcast, draft_id)
    return broadcast if broadcast is not None and broadcast.status == "draft" else None


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
    ctx.say(prompt, Choice(ctx._("⬅️ Announcements"), "bc"))


def _ask_file(ctx: Context) -> None:
    ctx.goto("bc:file")
    ctx.say(ctx._("Send a photo or a document to go with it, or skip."),
            Choice(ctx._("➡️ No file"), "bc:nofile"))


def _ask_url(ctx: Context) -> None:
    ctx.goto("bc:url")
    ctx.say(ctx._("A link button under the message? Type its address (https://…), or skip."),
            Choice(ctx._("➡️ No button"), "bc:nourl"))


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
    texts: dict[str, str] = dict(ctx.data.get("texts") or {})
    texts[language] = value
    ctx.data["texts"] = texts
    following = _next_language(texts)
    if following is not None:
        _ask_text(ctx, following)
        return
    broadcast = await broadcasts.create(ctx.db, created_by=ctx.user.id, texts=texts,
                                        audience={})
    ctx.data["bc"] = broadcast.id
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
                Choice(ctx._("➡️ No file"), "bc:nofile"))
        return
    audience = dict(broadcast.audience or {})
    audience[FILE_KEY] = {"ref": inbound.ref, "kind": inbound.kind}
    broadcast.audience = audience
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
                      "https://, or skip."), Choice(ctx._("➡️ No button"), "bc:nourl"))
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


def _filters(broadcast: Broadcast) -> dict[str, Any]:
    return {key: value for key, value in (broadcast.audience or {}).items()
            if not key.startswith("_")}


def _mark(on: bool, label: str) -> str:
    return f"✅ {label}" if on else label


async def _describe(ctx: Context, audience: dict[str, Any]) -> str:
    parts: list[str] = []
    if audience.get("languages"):
        parts.append(", ".join(LANGUAGE_NAMES[code] for code in audience["languages"]))
    if audience.get("channels"):
        parts.append(", ".join(CHANNEL_NAMES[code] for code in audience["channels"]))
    if audience.get("countries"):
        parts.append(", ".join(country_name(code, ctx.language)
                               for code in audience["countries"]))
    if audience.get("forum"):
        forum = await ctx.db.get(Forum, int(audience["forum"]))
        statuses = audience.get("forum_statuses") or list(broadcasts.FORUM_STATUSES)
        if forum is not None:
            parts.append(f"{forum_text.title(forum, ctx.language)} ("
                         + ", ".join(_forum_status(ctx, s) for s in statuses) + ")")
    if audience.get("verdicts"):
        parts.append(", ".join(_verdict(ctx, v) for v in audience["verdicts"]))
    return " · ".join(parts) if parts else ctx._("everyone")


async def show_audience(ctx: Context, broadcast: Broadcast, lead: str | None = None) -> None:
    ctx.goto("bc:country")
    audience = _filters(broadcast)
    number = await broadcasts.count(ctx.db, audience, ctx.settings.default_locale)
    text = ctx._("Who gets it: {audience}\nRecipients: {number}\n\nTap to combine filters; "
                 "type a country's name to add it.").format(
        audience=await _describe(ctx, audience), number=number)
    languages = audience.get("languages") or []
    channels = audience.get("channels") or []
    verdicts = audience.get("verdicts") or []
    rows: list[Choice | list[Choice]] = [
        [Choice(_mark(code in languages, LANGUAGE_NAMES[code]), f"bc:t:l:{code}")
         for code in LANGUAGES],
        [Choice(_mark(code in channels, name), f"bc:t:c:{code}")
         for code, name in CHANNEL_NAMES.items()],
        [Choice(_mark(v in verdicts, _verdict(ctx, v)), f"bc:t:v:{v}")
         for v in broadcasts.VERDICTS],
        Choice(ctx._("📅 Forum attendees…"), "bc:fo"),
    ]
    if audience.get("forum"):
        statuses = audience.get("forum_statuses") or []
        rows.append([Choice(_mark(s in statuses, _forum_status(ctx, s)), f"bc:t:s:{s}")
                     for s in broadcasts.FORUM_STATUSES])
    rows += [Choice(ctx._("♻️ Everyone (clear filters)"), "bc:all"),
             [Choice(ctx._("👁 Preview"), "bc:pv"), Choice(ctx._("➡️ Send…"), "bc:go")]]
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
    audience = dict(broadcast.audience or {})
    audience["countries"] = _toggle(list(audience.get("countries") or []), code)
    broadcast.audience = audience
    await show_audience(ctx, broadcast)


# ---- the buttons --------------------------------------------------------------------------


@router.button("bc")
async def button(ctx: Context) -> None:
    if _refuse(ctx):
        return
    args = ctx.payload_args
    action = args[0] if args else ""
    if action == "":
        await show_list(ctx)
        return
    if action == "new":
        ctx.reset()
        ctx.goto("bc:mode")
        _audit(ctx, "new")
        ctx.say(ctx._("A new announcement. One text for all languages, or a text for each?"),
                Choice(ctx._("One text for all"), "bc:one"),
                Choice(ctx._("A text for each language"), "bc:each"),
                Choice(ctx._("⬅️ Announcements"), "bc"))
        return
    if action in ("one", "each"):
        ctx.reset()
        ctx.data["texts"] = {}
        _ask_text(ctx, ALL if action == "one" else LANGUAGES[0])
        return
    if action in ("v", "cx"):
        broadcast = await ctx.db.get(Broadcast, int(args[1])) \
            if len(args) > 1 and args[1].isdigit() else None
        if broadcast is None:
            await show_list(ctx)
            return
        if action == "cx":
            try:
                await broadcasts.cancel(ctx.db, broadcast.id, now())
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
    await _draft_button(ctx, broadcast, action, args[1:])


async def _draft_button(ctx: Context, broadcast: Broadcast, action: str,
                        args: list[str]) -> None:
    if action == "nofile":
        _ask_url(ctx)
        return
    if action == "nourl":
        broadcast.button_url, broadcast.button_labels = None, None
        await show_audience(ctx, broadcast)
        return
    audience = dict(broadcast.audience or {})
    if action == "t" and len(args) == 2:
        key = {"l": "languages", "c": "channels", "v": "verdicts", "s": "forum_statuses"}.get(
            args[0])
        allowed = {"languages": LANGUAGES, "channels": tuple(CHANNEL_NAMES),
                   "verdicts": broadcasts.VERDICTS,
                   "forum_statuses": broadcasts.FORUM_STATUSES}
        if key is not None and args[1] in allowed[key]:
            audience[key] = _toggle(list(audience.get(key) or []), args[1])
            broadcast.audience = audience
        await show_audience(ctx, broadcast)
        return
    if action == "all":
        broadcast.audience = {k: v for k, v in audience.items() if k.startswith("_")}
        await show_audience(ctx, broadcast)
        return
    if action == "fo":
        if args and args[0].isdigit():
            audience["forum"] = int(args[0])
            audience["forum_statuses"] = []
            broadcast.audience = audience
            await show_audience(ctx, broadcast)
            return
        items = [forum for forum in await forums.all_forums(ctx.db)
                 if forum.status != "draft"][:20]
        ctx.say(ctx._("Which forum's attendees?") if items else ctx._("No forums yet."),
                *[Choice(forum_text.short_label(forum, ctx.t), f"bc:fo:{forum.id}")
                  for forum in items],
                Choice(ctx._("⬅️ Back"), "bc:aud"))
        return
    if action == "aud":
        await show_audience(ctx, broadcast)
        return
    if action == "pv":
        _audit(ctx, "preview", broadcast.id)
        for language in LANGUAGES:
            ctx.say(ctx._("Preview: {language}").format(language=LANGUAGE_NAMES[language]))
            message = broadcasts.compose(broadcast, language)
            if broadcast.attachment_kind:
                ctx.say(ctx._("📎 With the photo or document you sent."))
            ctx.replies.append(message)
        await show_audience(ctx, broadcast)
        return
    if action == "go":
        number = await broadcasts.count(ctx.db, _filters(broadcast),
                                        ctx.settings.default_locale)
        ctx.goto("bc:when")
        ctx.say(ctx._("{number} recipients. Send now, or type a time to send it "
                      "(Astana time, e.g. 2026-12-01 10:00).").format(number=number),
                Choice(ctx._("🚀 Send now"), "bc:now"), Choice(ctx._("⬅️ Back"), "bc:aud"))
        return
    if action == "now":
        await _schedule(ctx, broadcast, now())
        return
    await show_audience(ctx, broadcast)


async def _schedule(ctx: Context, broadcast: Broadcast, when: datetime) -> None:
    await broadcasts.schedule(ctx.db, broadcast.id, when)
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
                    Choice(ctx._("🚀 Send now"), "bc:now"))
            return
        await _schedule(ctx, broadcast, when)
        return
    ctx.say(ctx._("Please type the time as YYYY-MM-DD HH:MM (Astana time)."),
            Choice(ctx._("🚀 Send now"), "bc:now"))
