"""What the channel keeps about its traffic, besides the inbox and the contacts:

- handled-once keys (`whatsapp_processed`): a message id (`m:<wamid>`) and a status
  (`s:<wamid>:<status>`) are handled once, whatever Meta redelivers; kept as digests
  (`update_key`), as a message id can carry the sender's number;
- delivery records (`whatsapp_deliveries`): every message sent, updated by statuses;
- paged menus (`whatsapp_menus`): a user's latest long list, for its "more" row.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import delete, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot import clock
from bot.channels.whatsapp_api import CHANNEL
from bot.channels.whatsapp_errors import MetaError
from bot.channels.whatsapp_render import PagedMenu
from bot.core.engine import update_key
from bot.db.dialect import insert_for
from bot.db.models import WhatsAppDelivery, WhatsAppMenu, WhatsAppProcessed

_STATUS_RANK = {"accepted": 0, "sent": 1, "delivered": 2, "read": 3, "failed": 4}


# ---- handled once -------------------------------------------------------------------------


async def first_time(db: AsyncSession, key: str, inbox_id: int) -> bool:
    """True the first time `key` is seen, and again for the same inbox row (a retry
    after a crash); False for a redelivery."""
    key = update_key(CHANNEL, key)
    inserted = await db.execute(
        insert_for(db)(WhatsAppProcessed)
        .values(key=key, inbox_id=inbox_id, done=False, created_at=clock.now())
        .on_conflict_do_nothing()
        .returning(WhatsAppProcessed.key)
    )
    if inserted.scalar_one_or_none() is not None:
        return True
    row = await db.get(WhatsAppProcessed, key)
    return row is not None and row.inbox_id == inbox_id and not row.done


async def handled(db: AsyncSession, key: str) -> None:
    await db.execute(update(WhatsAppProcessed)
                     .where(WhatsAppProcessed.key == update_key(CHANNEL, key))
                     .values(done=True))


async def purge_keys(db: AsyncSession, keep: timedelta) -> None:
    """Keys older than Meta redelivers (7 days) go."""
    await db.execute(delete(WhatsAppProcessed).where(
        WhatsAppProcessed.created_at < clock.now() - keep))


# ---- delivery records ----------------------------------------------------------------------


async def add_deliveries(db: AsyncSession, external_id: str, wamids: list[str], *,
                         kind: str, text: str | None, now: datetime) -> None:
    if not wamids:
        return
    await db.execute(
        insert_for(db)(WhatsAppDelivery)
        .values([{"wamid": wamid, "external_id": external_id, "kind": kind,
                  "status": "accepted", "text": text, "sent_at": now,
                  "updated_at": now} for wamid in wamids])
        .on_conflict_do_nothing()
    )


async def update_delivery(db: AsyncSession, wamid: str, status: str,
                          error: MetaError | None) -> WhatsAppDelivery | None:
    """A status of a sent message: its record moves on (never back: statuses may come
    out of order). None for a message with no record (sent by something else on this
    number, or to a user who asked to be forgotten): it gets no new record."""
    record = await db.get(WhatsAppDelivery, wamid)
    if record is not None and _STATUS_RANK.get(status, 0) > _STATUS_RANK.get(record.status, 0):
        record.status = status
        record.updated_at = clock.now()
        if error is not None:
            record.error_code = error.code
            record.error_title = error.title[:255]
    return record


# ---- paged menus -----------------------------------------------------------------------------


async def keep_menu(db: AsyncSession, external_id: str, menu: PagedMenu) -> None:
    row = await db.get(WhatsAppMenu, external_id)
    choices = [list(choice) for choice in menu.choices]
    if row is None:
        db.add(WhatsAppMenu(external_id=external_id, token=menu.token, body=menu.body,
                            choices=choices, created_at=clock.now()))
    else:
        row.token, row.body, row.choices, row.created_at = (
            menu.token, menu.body, choices, clock.now())


async def menu_for(db: AsyncSession, external_id: str, token: str) -> PagedMenu | None:
    """The user's paged list, if `token` names the current one."""
    menu = await db.get(WhatsAppMenu, external_id)
    if menu is None or menu.token != token:
        return None
    return PagedMenu(menu.token, menu.body, [(c[0], c[1]) for c in menu.choices])
