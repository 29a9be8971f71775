"""Approved templates: how the bot starts a conversation outside the 24-hour window.

Each kind of message the bot starts (reminders, broadcasts, other notices) has one
template (`WHATSAPP_TEMPLATE_*`) with one body parameter, the message's text, and a
quick reply button whose payload is `menu`.
"""

from __future__ import annotations

import re
from typing import Any

from bot.channels.whatsapp_render import cut_at_word
from bot.config import Settings
from bot.core import scripts

# Delivery kinds that the bot starts itself and that may be sent as templates.
TEMPLATE_KINDS = ("reminder", "broadcast", "notice")
TEMPLATE_LANGUAGES = {"kk": "kk", "ru": "ru", "en": "en"}
# Kinds of messages the bot starts (bot/services/reminders.py and others), by template.
_TEMPLATE_OF_KIND = {"before": "reminder", "reminder": "reminder",
                     "broadcast": "broadcast",
                     "changed": "notice", "promoted": "notice", "notice": "notice"}
_TEMPLATE_PARAMETER_LIMIT = 1000


def template_kind(kind: str) -> str:
    """The template (reminder, broadcast, notice) for a kind of message the bot starts."""
    if kind in _TEMPLATE_OF_KIND:
        return _TEMPLATE_OF_KIND[kind]
    return "broadcast" if "broadcast" in kind else "notice"


def template_parameter(text: str) -> str:
    """Template parameters may not hold newlines, tabs or runs of spaces."""
    flat = re.sub(r"\s*\n\s*\n\s*", " · ", text.strip())
    flat = re.sub(r"\s+", " ", flat)
    return cut_at_word(flat, _TEMPLATE_PARAMETER_LIMIT)


def template_payload(settings: Settings, kind: str, language: str, text: str) -> dict[str, Any]:
    """The message of template `kind` (reminder, broadcast, notice) carrying `text`."""
    name = {
        "reminder": settings.whatsapp_template_reminder,
        "broadcast": settings.whatsapp_template_broadcast,
        "notice": settings.whatsapp_template_notice,
    }[kind]
    return {
        "type": "template",
        "template": {
            "name": name,
            # Kazakh in Latin or tote: the Kazakh template (Meta has no template
            # language per script), its parameter, the message, in the reader's script.
            "language": {"code": TEMPLATE_LANGUAGES.get(scripts.source(language), "en")},
            "components": [
                {"type": "body",
                 "parameters": [{"type": "text", "text": template_parameter(text)}]},
                {"type": "button", "sub_type": "quick_reply", "index": "0",
                 "parameters": [{"type": "payload", "payload": "menu"}]},
            ],
        },
    }
