"""The words of questions to coordinators, for the user's chat and the coordinators' chat.

Functions take a Translator, so the same texts serve a flow step (the user's or a
coordinator's language) and the coordinators' Telegram chat (DEFAULT_LOCALE)."""

from __future__ import annotations

from datetime import datetime, timedelta

from bot.core.i18n import Translator
from bot.db.models import HandoverMessage, HandoverThread, ThreadStatus, User
from bot.services.coordinators import Listed
from bot.services.eligibility import country_name
from bot.services.handover import ThreadInfo
from handlers.common import LANGUAGE_NAMES

CHANNEL_NAMES = {"telegram": "Telegram", "whatsapp": "WhatsApp", "console": "Terminal"}
SNIPPET = 80


def age(t: Translator, delta: timedelta) -> str:
    minutes = max(int(delta.total_seconds() // 60), 0)
    if minutes < 60:
        return t.ngettext("{count} min", "{count} min", minutes).format(count=minutes)
    hours = minutes // 60
    if hours < 48:
        return t.ngettext("{count} h", "{count} h", hours).format(count=hours)
    days = hours // 24
    return t.ngettext("{count} day", "{count} days", days).format(count=days)


def who(t: Translator, user: User) -> str:
    """Name · language · channel · country, for the coordinators."""
    language = LANGUAGE_NAMES.get(user.language or "", "—")
    country = country_name(user.country, t.locale) if user.country else "—"
    name = user.display_name or t._("(no name)")
    return f"{name} · {language} · {CHANNEL_NAMES.get(user.channel, user.channel)} · {country}"


def question_header(t: Translator, thread: HandoverThread, user: User, earlier: list[int]
                    ) -> str:
    """The first copy of a thread in the coordinators' chat."""
    lines = [t._("❓ Question #{id} from {who}").format(id=thread.id, who=who(t, user)),
             t._("Answer in: {language}").format(
                 language=LANGUAGE_NAMES.get(user.language or "", "—"))]
    if earlier:
        lines.append(t._("Earlier questions: {commands}").format(
            commands=", ".join(f"/thread {number}" for number in earlier)))
    lines.append(t._("Reply to this message to answer; /close as a reply closes the question."))
    return "\n".join(lines)


def follow_up_header(t: Translator, thread: HandoverThread, user: User) -> str:
    return t._("➕ #{id}, {name}:").format(id=thread.id,
                                          name=user.display_name or t._("(no name)"))


def attachment_label(t: Translator, kind: str | None) -> str:
    if kind == "photo":
        return t._("[photo]")
    if kind == "document":
        return t._("[document]")
    return ""


def threads_text(t: Translator, threads: list[ThreadInfo], now: datetime) -> str:
    if not threads:
        return t._("No open questions.")
    lines = [t._("Open questions ({count}), oldest first:").format(count=len(threads))]
    for info in threads:
        lines.append(t.ngettext("#{id} · {who} · waiting {age} · {count} message · /thread {id}",
                                "#{id} · {who} · waiting {age} · {count} messages · /thread {id}",
                                info.messages)
                     .format(id=info.thread.id, who=who(t, info.user),
                             age=age(t, now - info.thread.created_at), count=info.messages))
    return "\n".join(lines)


def history_text(t: Translator, thread: HandoverThread, user: User,
                 messages: list[HandoverMessage], now: datetime) -> str:
    status = t._("still open") if thread.status == ThreadStatus.OPEN else t._("closed")
    lines = [t._("Question #{id} ({status}) from {who}, {age} ago").format(
        id=thread.id, status=status, who=who(t, user), age=age(t, now - thread.created_at))]
    for message in messages[-20:]:
        arrow = "👤" if message.direction == "in" else "💬"
        body = " ".join(part for part in (attachment_label(t, message.attachment_kind),
                                          (message.text or "").strip()) if part)
        if len(body) > SNIPPET:
            body = body[:SNIPPET - 1].rstrip() + "…"
        lines.append(f"{arrow} {age(t, now - message.created_at)}: {body or '—'}")
    return "\n".join(lines)


def answer_text(t: Translator, text: str) -> str:
    return t._("Answer from a coordinator:") + "\n\n" + text


def closed_notice(t: Translator, thread_id: int) -> str:
    return t._("A coordinator has closed your question #{id}. If you need anything else, "
               "you are welcome to ask again from the menu.").format(id=thread_id)


def coordinators_text(t: Translator, people: list[Listed], added: bool) -> str:
    """The people listed (a page of them, or all); `added` whether anyone is listed
    who is no lead."""
    lines = [t._("👥 Coordinators:")]
    for person in people:
        role = t._("lead") if person.lead else t._("coordinator")
        name = person.name or t._("(no name)")
        lines.append(f"• {name} · {person.telegram_id} · {role}")
    if not added:
        lines.append(t._("No coordinators added yet."))
    return "\n".join(lines)
