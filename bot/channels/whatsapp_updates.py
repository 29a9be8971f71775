"""Meta's webhook payloads (`whatsapp_business_account`) as small typed records.

Only what the bot uses is read; unknown fields are ignored and unknown message types
become `unsupported`. Users are identified by the business-scoped user id
(`user_id` / `from_user_id`, sent since 2026) with the phone number (`wa_id` /
`from`) kept when present.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from bot import clock
from bot.channels.whatsapp_errors import MetaError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Incoming:
    """One message a user sent."""

    wamid: str
    user_id: str | None
    wa_id: str | None
    name: str | None
    timestamp: datetime
    type: str
    text: str = ""
    payload: str = ""
    phone: str | None = None
    errors: tuple[MetaError, ...] = ()
    # An image or a document: its media id (downloaded through the Graph API) and name.
    media_id: str | None = None
    filename: str | None = None

    @property
    def external_id(self) -> str:
        return self.user_id or self.wa_id or ""


@dataclass(frozen=True)
class Status:
    """What happened to a message the bot sent."""

    wamid: str
    status: str
    user_id: str | None
    wa_id: str | None
    timestamp: datetime
    errors: tuple[MetaError, ...] = ()


@dataclass
class Delivery:
    """Everything one webhook POST carried."""

    messages: list[Incoming] = field(default_factory=list)
    statuses: list[Status] = field(default_factory=list)
    errors: list[MetaError] = field(default_factory=list)


def _time(value: Any) -> datetime:
    try:
        return datetime.fromtimestamp(int(value), UTC)
    except (TypeError, ValueError, OverflowError):
        return clock.now()


def _str(value: Any) -> str | None:
    return str(value) if value not in (None, "") else None


def parse_delivery(body: dict[str, Any]) -> Delivery:
    delivery = Delivery()
    if body.get("object") != "whatsapp_business_account":
        return delivery
    for entry in body.get("entry") or []:
        for change in entry.get("changes") or []:
            if change.get("field") != "messages":
                continue
            value = change.get("value") or {}
            delivery.errors += [MetaError.parse(e) for e in value.get("errors") or []]
            contacts = value.get("contacts") or []
            for message in value.get("messages") or []:
                parsed = _message(message, contacts)
                if parsed is not None:
                    delivery.messages.append(parsed)
            for status in value.get("statuses") or []:
                if status.get("id") and status.get("status"):
                    delivery.statuses.append(Status(
                        wamid=str(status["id"]),
                        status=str(status["status"]),
                        user_id=_str(status.get("recipient_user_id")),
                        wa_id=_str(status.get("recipient_id")),
                        timestamp=_time(status.get("timestamp")),
                        errors=tuple(MetaError.parse(e) for e in status.get("errors") or []),
                    ))
    return delivery


def _contact_for(message: dict[str, Any], contacts: list[dict[str, Any]]) -> dict[str, Any]:
    sender_phone = message.get("from")
    sender_user = message.get("from_user_id")
    for contact in contacts:
        if (sender_user and contact.get("user_id") == sender_user) or (
            sender_phone and contact.get("wa_id") == sender_phone
        ):
            return contact
    return contacts[0] if len(contacts) == 1 else {}


def _message(message: dict[str, Any], contacts: list[dict[str, Any]]) -> Incoming | None:
    wamid = _str(message.get("id"))
    if wamid is None:
        return None
    contact = _contact_for(message, contacts)
    user_id = _str(message.get("from_user_id")) or _str(contact.get("user_id"))
    wa_id = _str(contact.get("wa_id")) or _str(message.get("from"))
    if user_id is None and wa_id is None:
        return None
    kind = str(message.get("type") or "unsupported")
    common: dict[str, Any] = {
        "wamid": wamid, "user_id": user_id, "wa_id": wa_id,
        "name": _str((contact.get("profile") or {}).get("name")),
        "timestamp": _time(message.get("timestamp")),
        "errors": tuple(MetaError.parse(e) for e in message.get("errors") or []),
    }
    if kind == "text":
        return Incoming(type="text", text=str((message.get("text") or {}).get("body") or ""),
                        **common)
    if kind == "interactive":
        interactive = message.get("interactive") or {}
        reply = interactive.get(interactive.get("type") or "") or {}
        if interactive.get("type") in ("button_reply", "list_reply") and reply.get("id"):
            return Incoming(type="button", payload=str(reply["id"]),
                            text=str(reply.get("title") or ""), **common)
    if kind == "button":  # a quick reply button of a template
        button = message.get("button") or {}
        return Incoming(type="button", payload=str(button.get("payload") or ""),
                        text=str(button.get("text") or ""), **common)
    if kind == "contacts":
        shared = (message.get("contacts") or [{}])[0]
        phones = shared.get("phones") or [{}]
        phone = _str(phones[0].get("phone")) or _str(phones[0].get("wa_id"))
        return Incoming(type="contact", phone=phone, **common)
    if kind == "system":
        return Incoming(type="system", **common)
    if kind in ("image", "document"):
        media = message.get(kind) or {}
        return Incoming(type=kind, text=str(media.get("caption") or ""),
                        media_id=_str(media.get("id")), filename=_str(media.get("filename")),
                        **common)
    return Incoming(type=kind, **common)
