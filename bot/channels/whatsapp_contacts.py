"""WhatsApp users: how to reach them, their 24-hour window, what is stored about them.

A user is known by the business-scoped user id (BSUID, `user_id`) when Meta sends one,
with the phone number (`wa_id`) kept when present; `external_id` (the users row's) is
the BSUID, or the phone number for users first seen without one. Messages go to the
phone number when known, else to the BSUID. Messages the bot starts are normal messages
only within 24 hours of the user's last message (`WINDOW`, less a margin).
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot import clock
from bot.channels.whatsapp_updates import Incoming
from bot.db.dialect import insert_for
from bot.db.models import User, WhatsAppContact, WhatsAppDelivery, WhatsAppMenu

log = logging.getLogger(__name__)

CHANNEL = "whatsapp"
WINDOW = timedelta(hours=24)
# Kept a little shorter than the window, so a message sent at its edge still arrives.
WINDOW_MARGIN = timedelta(minutes=5)

Address = dict[str, str]


def address(wa_id: str | None, user_id: str | None) -> Address:
    """Whom to send to: the phone number when known, else the business-scoped user id."""
    if wa_id:
        return {"recipient_type": "individual", "to": wa_id}
    return {"recipient_type": "individual", "recipient": user_id or ""}


def in_window(last_inbound: datetime | None) -> bool:
    """Whether a normal message (not a template) may be sent now."""
    return last_inbound is not None and clock.now() - last_inbound < WINDOW - WINDOW_MARGIN


async def upsert(db: AsyncSession, message: Incoming) -> WhatsAppContact:
    """The sender of an incoming message, found by BSUID, then by phone number; created,
    or brought up to date (name, phone number, the start of the window)."""
    contact = None
    if message.user_id:
        contact = (await db.execute(select(WhatsAppContact).where(
            WhatsAppContact.user_id == message.user_id))).scalar_one_or_none()
    if contact is None and message.wa_id:
        contact = (await db.execute(select(WhatsAppContact).where(
            WhatsAppContact.wa_id == message.wa_id))).scalar_one_or_none()
        if contact is not None and contact.user_id and message.user_id \
                and contact.user_id != message.user_id:
            # A recycled phone number: another person (a new number gets a new
            # BSUID, so the same person never shows up like this).
            contact.wa_id = None
            await db.flush()
            contact = None
    if contact is None:
        await db.execute(
            insert_for(db)(WhatsAppContact)
            .values(external_id=message.external_id, user_id=message.user_id,
                    wa_id=message.wa_id, profile_name=message.name,
                    last_inbound_at=message.timestamp)
            .on_conflict_do_nothing()
        )
        contact = await db.get(WhatsAppContact, message.external_id)
        if contact is None:  # pragma: no cover - a conflict on another column
            contact = (await db.execute(select(WhatsAppContact).where(or_(
                WhatsAppContact.user_id == message.user_id,
                WhatsAppContact.wa_id == message.wa_id)))).scalars().first()
        assert contact is not None
        return contact
    if message.user_id and contact.user_id is None:
        contact.user_id = message.user_id
    if message.wa_id and contact.wa_id != message.wa_id:
        contact.wa_id = message.wa_id
    if message.name:
        contact.profile_name = message.name
    if contact.last_inbound_at is None or clock.as_utc(contact.last_inbound_at) < message.timestamp:
        contact.last_inbound_at = message.timestamp
    return contact


async def recipient(db: AsyncSession, external_id: str) -> tuple[Address, datetime | None]:
    """The address of a user and when they last wrote (None: never, or unknown)."""
    contact = await db.get(WhatsAppContact, external_id)
    if contact is None:
        return {"to": external_id}, None
    last = clock.as_utc(contact.last_inbound_at) if contact.last_inbound_at else None
    return address(contact.wa_id, contact.user_id), last


async def external_id_of(db: AsyncSession, user_id: str | None, wa_id: str | None) -> str:
    """The user's `external_id` from a BSUID or a phone number (of a status webhook)."""
    for column, value in ((WhatsAppContact.user_id, user_id),
                          (WhatsAppContact.wa_id, wa_id)):
        if value:
            found = (await db.execute(select(WhatsAppContact.external_id)
                                      .where(column == value))).scalar_one_or_none()
            if found:
                return str(found)
    return user_id or wa_id or "?"


async def forgotten(db: AsyncSession, external_id: str) -> bool:
    """True (and their WhatsApp records gone) when the user's row is gone (`/forgetme`)."""
    if (await db.execute(select(User.id).where(
        User.channel == CHANNEL, User.external_id == external_id
    ))).first() is not None:
        return False
    await forget(db, external_id)
    return True


async def forget(db: AsyncSession, external_id: str) -> None:
    """The user asked to be forgotten: their phone, name, window and messages go.
    (Handled inbox rows keep no bodies; ids of handled messages stay 14 days.)"""
    for model in (WhatsAppContact, WhatsAppDelivery, WhatsAppMenu):
        await db.execute(delete(model).where(model.external_id == external_id))
    log.info("whatsapp: a user's records forgotten")


async def export_for(db: AsyncSession, user_id: int) -> dict[str, Any] | None:
    """What the WhatsApp channel stores about a user, for `/mydata` (registered with
    `bot.services.privacy.register_exporter` where the app is built)."""
    user = await db.get(User, user_id)
    if user is None or user.channel != CHANNEL:
        return None
    contact = await db.get(WhatsAppContact, user.external_id)
    deliveries = (await db.execute(
        select(WhatsAppDelivery).where(WhatsAppDelivery.external_id == user.external_id)
        .order_by(WhatsAppDelivery.sent_at)
    )).scalars().all()
    return {
        "business_scoped_user_id": contact.user_id if contact else None,
        "phone": contact.wa_id if contact else None,
        "profile_name": contact.profile_name if contact else None,
        "last_message_at": clock.iso(contact.last_inbound_at) if contact else None,
        "messages_sent_to_you": [
            {"kind": d.kind, "status": d.status, "sent": clock.iso(d.sent_at),
             "error": d.error_code}
            for d in deliveries
        ],
    }
