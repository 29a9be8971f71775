"""Channel-neutral replies as WhatsApp Cloud API message payloads, within its limits.

- no choices: text messages of at most 4096 characters (longer text is split);
- 1 to 3 choices whose labels fit (unique, at most 20 characters): reply buttons;
- 4 to 10 choices (or buttons that do not fit): a list (rows of at most 24 characters,
  descriptions of at most 72, ids of at most 200, the button of at most 20);
- more than 10: a list of 9 rows and a "more" row that shows the next page;
- an interactive body is at most 1024 characters: longer text goes first as text
  messages and the interactive message asks to choose;
- labels too long for WhatsApp use shorter strings of their own (`SHORT_LABELS`), in
  the user's language; only labels with no short string (content names) are cut at a
  word boundary, with the whole label kept in the row's description.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from typing import Any

from bot.core.i18n import N_, Translator
from bot.core.replies import Attachment, Choice, Reply, split_text

TEXT_LIMIT = 4096
CAPTION_LIMIT = 1024
IMAGE_TYPES = frozenset({"image/png", "image/jpeg"})
# The key of a media message that holds the file to upload (removed before sending).
ATTACHMENT_KEY = "_attachment"
BODY_LIMIT = 1024
MAX_BUTTONS = 3
BUTTON_TITLE_LIMIT = 20
BUTTON_ID_LIMIT = 256
MAX_ROWS = 10
ROW_TITLE_LIMIT = 24
ROW_DESCRIPTION_LIMIT = 72
ROW_ID_LIMIT = 200
LIST_BUTTON_LIMIT = 20

# Payloads of the channel's own "more" rows: `wa:more:<token>:<page>`.
MORE_PREFIX = "wa:more:"

# Labels of the flows that are too long for WhatsApp in some language, and the
# shorter words WhatsApp shows instead (separate strings, translated per language).
SHORT_LABELS: dict[str, str] = {
    "🤝 Support projects": N_("🤝 Projects"),
    "📊 Kazakhs abroad in numbers": N_("📊 In numbers"),
    "⬅️ Main menu": N_("⬅️ Menu"),
    "⬅️ All projects": N_("⬅️ Projects"),
    "🌐 Change language": N_("🌐 Language"),
    "🧭 Can I return as a kandas?": N_("🧭 Can I return?"),
}

LIST_BUTTON = N_("Choose")
MORE_LABEL = N_("➡️ More")
MORE_DESCRIPTION = N_("Show the next options")
CHOOSE_PROMPT = N_("Choose an option:")


@dataclass
class PagedMenu:
    """A list longer than 10 rows: what the "more" rows page through."""

    token: str
    body: str
    choices: list[tuple[str, str]]  # (label, payload)


@dataclass
class Rendered:
    messages: list[dict[str, Any]] = field(default_factory=list)
    menu: PagedMenu | None = None


def text_message(text: str) -> dict[str, Any]:
    return {"type": "text", "text": {"body": text, "preview_url": False}}


def fit_label(label: str, limit: int, t: Translator) -> str | None:
    """The label itself, or its shorter WhatsApp string, if one fits; else None."""
    if len(label) <= limit:
        return label
    for long, short in SHORT_LABELS.items():
        if t._(long) == label:
            shorter = t._(short)
            if shorter == short and t.locale != "en":
                break  # not translated yet: never English words in another language
            if len(shorter) <= limit:
                return shorter
    return None


def cut_at_word(text: str, limit: int) -> str:
    """The last resort for labels with no short string: whole words and an ellipsis."""
    if len(text) <= limit:
        return text
    window = text[: limit - 1]
    space = window.rfind(" ")
    if space > limit // 2:
        window = window[:space]
    return window.rstrip(" ,.;:-") + "…"


def render(replies: list[Reply], t: Translator) -> Rendered:
    result = Rendered()
    for reply in replies:
        one = render_reply(reply, t)
        result.messages += one.messages
        if one.menu is not None:
            result.menu = one.menu
    return result


def render_reply(reply: Reply, t: Translator) -> Rendered:
    choices = [choice for choice in reply.flat_choices if not choice.url]
    links = [choice for choice in reply.flat_choices if choice.url]
    text = reply.text
    if links:
        text += "\n\n" + "\n".join(f"{choice.label}: {choice.url}" for choice in links)
    result = Rendered()
    if reply.attachment is not None:
        result.messages += media_messages(text, reply.attachment)
        if choices:
            _add_choices(result, t._(CHOOSE_PROMPT), choices, t)
        return result
    if not choices:
        return Rendered([text_message(chunk) for chunk in split_text(text, TEXT_LIMIT)])
    if len(text) <= BODY_LIMIT and text.strip():
        body = text
    else:
        if text.strip():
            result.messages += [text_message(chunk) for chunk in split_text(text, TEXT_LIMIT)]
        body = t._(CHOOSE_PROMPT)
    _add_choices(result, body, choices, t)
    return result


def media_messages(text: str, attachment: Attachment) -> list[dict[str, Any]]:
    """A picture or a document, with the text as its caption when it fits (else the
    text goes first). The channel uploads `ATTACHMENT_KEY` and puts in the media id."""
    kind = "image" if attachment.mime in IMAGE_TYPES else "document"
    media: dict[str, Any] = {}
    if kind == "document":
        media["filename"] = attachment.filename
    messages: list[dict[str, Any]] = []
    if text.strip() and len(text) <= CAPTION_LIMIT:
        media["caption"] = text
    elif text.strip():
        messages += [text_message(chunk) for chunk in split_text(text, TEXT_LIMIT)]
    messages.append({"type": kind, kind: media, ATTACHMENT_KEY: attachment})
    return messages


def _add_choices(result: Rendered, body: str, choices: list[Choice], t: Translator) -> None:
    buttons = _buttons(body, choices, t)
    if buttons is not None:
        result.messages.append(buttons)
    elif len(choices) <= MAX_ROWS:
        result.messages.append(list_message(body, [(c.label, c.payload) for c in choices], t))
    else:
        menu = PagedMenu(secrets.token_hex(4), body, [(c.label, c.payload) for c in choices])
        result.messages.append(list_page(menu, 0, t))
        result.menu = menu


def _buttons(body: str, choices: list[Choice], t: Translator) -> dict[str, Any] | None:
    if len(choices) > MAX_BUTTONS:
        return None
    titles = [fit_label(choice.label, BUTTON_TITLE_LIMIT, t) for choice in choices]
    if None in titles or len(set(titles)) != len(titles):
        return None
    if any(len(choice.payload) > BUTTON_ID_LIMIT for choice in choices):
        return None
    return {
        "type": "interactive",
        "interactive": {
            "type": "button",
            "body": {"text": body},
            "action": {
                "buttons": [
                    {"type": "reply", "reply": {"id": choice.payload, "title": title}}
                    for choice, title in zip(choices, titles, strict=True)
                ]
            },
        },
    }


def _row(label: str, payload: str, t: Translator) -> dict[str, Any]:
    title = fit_label(label, ROW_TITLE_LIMIT, t)
    row: dict[str, Any] = {"id": payload[:ROW_ID_LIMIT]}
    if title is None:
        row["title"] = cut_at_word(label, ROW_TITLE_LIMIT)
        row["description"] = cut_at_word(label, ROW_DESCRIPTION_LIMIT)
    else:
        row["title"] = title
    return row


def list_message(body: str, items: list[tuple[str, str]], t: Translator,
                 extra: dict[str, Any] | None = None) -> dict[str, Any]:
    rows = [_row(label, payload, t) for label, payload in items]
    if extra is not None:
        rows.append(extra)
    button = t._(LIST_BUTTON)
    if len(button) > LIST_BUTTON_LIMIT:
        button = cut_at_word(button, LIST_BUTTON_LIMIT)
    return {
        "type": "interactive",
        "interactive": {
            "type": "list",
            "body": {"text": body},
            "action": {"button": button, "sections": [{"rows": rows}]},
        },
    }


def page_bounds(total: int, page: int) -> tuple[int, int, bool]:
    """Start, end and whether a "more" row follows, for page `page` of `total` choices."""
    start = page * (MAX_ROWS - 1)
    if total - start <= MAX_ROWS:
        return start, total, False
    return start, start + MAX_ROWS - 1, True


def list_page(menu: PagedMenu, page: int, t: Translator) -> dict[str, Any]:
    start, end, more = page_bounds(len(menu.choices), page)
    extra = None
    if more:
        extra = {
            "id": f"{MORE_PREFIX}{menu.token}:{page + 1}",
            "title": t._(MORE_LABEL),
            "description": t._(MORE_DESCRIPTION),
        }
    return list_message(menu.body, menu.choices[start:end], t, extra)
