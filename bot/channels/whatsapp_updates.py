"""Meta's webhook payloads (`whatsapp_business_account`) as small typed records.

Only what the bot uses is read; unknown fields are ignored and unknown message types
become `unsupported`. Every string is cleaned (`bot.core.inbound.clean`) and bounded; a
field that is not what Meta documents reads as absent; a message or status with an id
longer than its column is skipped, and the others of the delivery are handled.

Users are identified by the business-scoped user id (`user_id` / `from_user_id`, sent
since 2026) with the phone number (`wa_id` / `from`) kept when present.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from bot import clock
from bot.channels.whatsapp_errors import MetaError
from bot.core.events import FIELD_LIMIT, PAYLOAD_LIMIT, TEXT_LIMIT
from bot.core.inbound import clean_optional, whole_number

log = logging.getLogger(__name__)

# The longest ids a message may carry: those of their columns (bot/db/models.py), a
# message id with the prefix of its handled-once key (`m:<wamid>`, 255).
ID_LIMIT = 200
USER_ID_LIMIT = 64
WA_ID_LIMIT = 32
NAME_LIMIT = 128


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
    # Why each message or status that could not be read was skipped (no personal data).
    skipped: list[str] = field(default_factory=list)


def _time(value: Any) -> datetime:
    seconds = whole_number(str(value)) if isinstance(value, int | str) else None
    try:
        return datetime.fromtimestamp(seconds, UTC) if seconds is not None else clock.now()
    except (ValueError, OverflowError, OSError):
        return clock.now()


def _dict(value: Any) -> dict[str, Any]:
    """An object of the payload; {} for anything else (a field not as Meta documents)."""
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> list[dict[str, Any]]:
    """A list of objects of the payload: what is not an object in it is left out."""
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []


def _str(value: Any, limit: int | None = FIELD_LIMIT) -> str | None:
    """A string of the payload, cleaned and cut to `limit`; None when there is none."""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        return None
    return clean_optional(str(value), limit)


def _id(value: Any, limit: int) -> str | None:
    """An id of the payload; None when there is none, `Malformed` when it is longer than
    its column, so no message is taken for another's."""
    text = _str(value, None)
    if text is not None and len(text) > limit:
        raise Malformed("an id longer than its column")
    return text


class Malformed(ValueError):
    """A message or status that cannot be read; it is skipped, the others are handled."""


def parse_delivery(body: Any) -> Delivery:
    """The messages, statuses and errors of a delivery; each message and status is read
    on its own, so one that cannot be read is skipped (and counted in `skipped`) while
    the others are handled."""
    delivery = Delivery()
    body = _dict(body)
    if body.get("object") != "whatsapp_business_account":
        return delivery
    for entry in _list(body.get("entry")):
        for change in _list(entry.get("changes")):
            if change.get("field") != "messages":
                continue
            value = _dict(change.get("value"))
            delivery.errors += [MetaError.parse(e) for e in _list(value.get("errors"))]
            contacts = _list(value.get("contacts"))
            for message in _list(value.get("messages")):
                try:
                    parsed = _message(message, contacts)
                except Malformed as problem:
                    delivery.skipped.append(str(problem))
                    continue
                if parsed is not None:
                    delivery.messages.append(parsed)
            for status in _list(value.get("statuses")):
                try:
                    wamid, state = _id(status.get("id"), ID_LIMIT), _id(status.get("status"), 16)
                    if wamid and state:
                        delivery.statuses.append(Status(
                            wamid=wamid, status=state,
                            user_id=_id(status.get("recipient_user_id"), USER_ID_LIMIT),
                            wa_id=_id(status.get("recipient_id"), WA_ID_LIMIT),
                            timestamp=_time(status.get("timestamp")),
                            errors=tuple(MetaError.parse(e)
                                         for e in _list(status.get("errors"))),
                        ))
                except Malformed as problem:
                    delivery.skipped.append(str(problem))
    return delivery


def first_sender(body: Any) -> tuple[str, datetime] | None:
    """Who sent the delivery's first message (the business-scoped user id, else the
    number) and when, by Meta's timestamp; None for a delivery without a message."""
    for entry in _list(_dict(body).get("entry")):
        for change in _list(entry.get("changes")):
            for message in _list(_dict(change.get("value")).get("messages")):
                sender = _str(message.get("from_user_id"), None) or _str(message.get("from"),
                                                                         None)
                if sender:
                    return sender, _time(message.get("timestamp"))
    return None


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
    wamid = _id(message.get("id"), ID_LIMIT)
    if wamid is None:
        return None
    contact = _contact_for(message, contacts)
    user_id = _id(message.get("from_user_id"), USER_ID_LIMIT) or _id(contact.get("user_id"),
                                                                     USER_ID_LIMIT)
    wa_id = _id(contact.get("wa_id"), WA_ID_LIMIT) or _id(message.get("from"), WA_ID_LIMIT)
    if user_id is None and wa_id is None:
        return None
    kind = _str(message.get("type"), 32) or "unsupported"
    common: dict[str, Any] = {
        "wamid": wamid, "user_id": user_id, "wa_id": wa_id,
        "name": _str(_dict(contact.get("profile")).get("name"), NAME_LIMIT),
        "timestamp": _time(message.get("timestamp")),
        "errors": tuple(MetaError.parse(e) for e in _list(message.get("errors"))),
    }
    if kind == "text":
        return Incoming(type="text", text=_str(_dict(message.get("text")).get("body"),
                                               TEXT_LIMIT) or "", **common)
    if kind == "interactive":
        interactive = _dict(message.get("interactive"))
        reply = _dict(interactive.get(_str(interactive.get("type")) or ""))
        payload = _str(reply.get("id"), PAYLOAD_LIMIT)
        if interactive.get("type") in ("button_reply", "list_reply") and payload:
            return Incoming(type="button", payload=payload,
                            text=_str(reply.get("title")) or "", **common)
    if kind == "button":  # a quick reply button of a template
        button = _dict(message.get("button"))
        return Incoming(type="button", payload=_str(button.get("payload"), PAYLOAD_LIMIT) or "",
                        text=_str(button.get("text")) or "", **common)
    if kind == "contacts":
        shared = next(iter(_list(message.get("contacts"))), {})
        phones = next(iter(_list(shared.get("phones"))), {})
        phone = _str(phones.get("phone"), 32) or _str(phones.get("wa_id"), 32)
        return Incoming(type="contact", phone=phone, **common)
    if kind == "system":
        return Incoming(type="system", **common)
    if kind in ("image", "document"):
        media = _dict(message.get(kind))
        return Incoming(type=kind, text=_str(media.get("caption"), TEXT_LIMIT) or "",
                        media_id=_str(media.get("id")), filename=_str(media.get("filename")),
                        **common)
    return Incoming(type=kind, **common)
