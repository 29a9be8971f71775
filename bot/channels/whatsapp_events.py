"""Incoming WhatsApp messages as channel-neutral events.

WhatsApp has no bot commands: commands come as words (English, Kazakh, Russian), and
`start` is also the word that opts a user in again after `stop` (the event says so with
`opt_in`; the flow turns announcements back on). A phone number's country calling code
pre-selects a language for `start`.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from bot.channels.whatsapp_updates import Incoming
from bot.core import scripts
from bot.core.events import Event, EventKind, Identity, InboundFile

# Commands typed as words (WhatsApp has no bot commands), English, Kazakh, Russian.
COMMAND_WORDS: dict[str, str] = {
    "start": "start", "бастау": "start", "старт": "start",
    "menu": "menu", "мәзір": "menu", "мазир": "menu", "меню": "menu",
    "help": "help", "көмек": "help", "комек": "help", "помощь": "help",
    "language": "language", "lang": "language", "тіл": "language", "тил": "language",
    "язык": "language",
    "cancel": "cancel", "болдырмау": "cancel", "отмена": "cancel",
    # Announcements off (handlers/settings.py); `start` turns them back on (`opt_in`).
    "stop": "stop", "стоп": "stop", "тоқтату": "stop",
}
# The same words in Kazakh's Latin and tote scripts (`mäzır`, `ٴمازىر`, or without the
# hamza), as their readers type them.
COMMAND_WORDS |= {
    spelled: command
    for word, command in list(COMMAND_WORDS.items()) if scripts.HAS_CYRILLIC.search(word)
    for locale in scripts.DERIVED
    for spelled in {scripts.write(word, locale).lower(),
                    scripts.write(word, locale).replace(scripts.HAMZA, "")}
    if spelled not in COMMAND_WORDS
}

# Country calling codes that pre-select a language for `start` (the language is still
# asked on first contact otherwise). +7 7xx is Kazakhstan, the rest of +7 is Russia.
_PHONE_LANGUAGES: tuple[tuple[str, str], ...] = (
    ("76", "kk"), ("77", "kk"), ("7", "ru"),
    ("86", "kk-Arab"), ("976", "kk"),  # Xinjiang (who read tote) and Bayan-Ölgii Kazakhs
    ("996", "ru"), ("998", "ru"), ("992", "ru"), ("993", "ru"), ("375", "ru"),
    ("374", "ru"), ("994", "ru"), ("995", "ru"), ("373", "ru"),
)


def language_for_phone(wa_id: str | None) -> str | None:
    if not wa_id:
        return None
    digits = wa_id.lstrip("+")
    for prefix, language in _PHONE_LANGUAGES:
        if digits.startswith(prefix):
            return language
    return None


def command_word(text: str) -> str | None:
    word = text.strip().lower().strip(".!?؟")
    return COMMAND_WORDS.get(word)


def event_for(identity: Identity, message: Incoming) -> Event:
    event = _event(identity, message)
    if event.kind is EventKind.COMMAND and event.command == "start":
        return replace(event, opt_in=True)
    return event


def _event(identity: Identity, message: Incoming) -> Event:
    extra: dict[str, Any] = {
        "language_hint": language_for_phone(message.wa_id),
        "display_name": message.name,
        "update_id": message.wamid or None,
    }
    if message.type == "text":
        command = command_word(message.text)
        if command is not None:
            return Event(identity, EventKind.COMMAND, text=message.text.strip(),
                         command=command, **extra)
        return Event.from_text(identity, message.text, **extra)
    if message.type == "button" and message.payload:
        return Event(identity, EventKind.BUTTON, text=message.text,
                     payload=message.payload, **extra)
    if message.type == "contact" and message.phone:
        return Event(identity, EventKind.CONTACT, phone=message.phone, **extra)
    if message.type in ("image", "document") and message.media_id:
        # Passed on by media id (questions to coordinators); elsewhere "unsupported".
        kind = "photo" if message.type == "image" else "document"
        return Event(identity, EventKind.FILE, text=message.text.strip(),
                     file=InboundFile(kind, message.media_id, message.filename), **extra)
    # image, audio, video, document, sticker, reaction, location, unsupported, ...
    return Event(identity, EventKind.UNSUPPORTED, **extra)
