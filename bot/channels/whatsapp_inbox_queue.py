"""The rows of `whatsapp_inbox` on the durable queue (`bot.db.queue`).

A row is `new` when stored, `working` while a process holds it (under a lease its
`Consumer` renews), `done` once handled (its body emptied), and `failed` with its
reason after `MAX_ATTEMPTS` attempts. A failed attempt puts the row back in line after
a backoff; a row whose lease ran out (its process stopped or crashed) is claimed again.
Here: the table's description, storing deliveries, finishing and purging rows.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncSession

from bot import clock
from bot.db.models import InboxStatus, WhatsAppInbox
from bot.db.queue import Consumer, Queue

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 5

INBOX: Queue[WhatsAppInbox] = Queue(
    WhatsAppInbox, pending=InboxStatus.NEW, claimed=InboxStatus.WORKING,
    failed=InboxStatus.FAILED, max_attempts=MAX_ATTEMPTS)

# What a worker gets of a row: its id, the attempts so far (this one included), its body.
Item = tuple[int, int, str]


def items(rows: Sequence[Sequence[Any]]) -> list[Item]:
    """Rows claimed as `consumer.claim(db, limit, WhatsAppInbox.body)`."""
    return [(row[0], row[1], row[2]) for row in rows]


async def store(db: AsyncSession, bodies: list[str],
                claimed: dict[str, Any] | None = None) -> list[Item]:
    """Store deliveries in the caller's transaction; with `claimed` (a consumer's
    `claimed()` values) already held by that consumer, which handles them itself."""
    now = clock.now()
    rows = [WhatsAppInbox(body=body, received_at=now, **(claimed or {}))
            for body in bodies]
    db.add_all(rows)
    await db.flush()
    return [(row.id, row.attempts or 0, row.body) for row in rows]


async def claim(db: AsyncSession, consumer: Consumer[WhatsAppInbox], limit: int) -> list[Item]:
    """Claim up to `limit` rows nobody holds. A row claimed more than `MAX_ATTEMPTS`
    times (its process kept dying while handling it) is given up instead."""
    rows = items(await consumer.claim(db, limit, WhatsAppInbox.body))
    spent = [row[0] for row in rows if row[1] > MAX_ATTEMPTS]
    if spent:
        log.error("whatsapp: giving up on inbox rows %s after %d attempts", spent, MAX_ATTEMPTS)
        await consumer.queue.give_up(
            db, [(row_id, f"gave up after {MAX_ATTEMPTS} attempts") for row_id in spent])
        consumer.drop(spent)
    return [row for row in rows if row[1] <= MAX_ATTEMPTS]


async def finish(db: AsyncSession, inbox_id: int) -> None:
    """The row is handled (in the caller's transaction, e.g. with the replies' records)."""
    await INBOX.finish(db, [inbox_id], InboxStatus.DONE, last_error=None, body="")


async def purge(db: AsyncSession, keep: timedelta) -> None:
    """Handled rows older than `keep` go."""
    await db.execute(delete(WhatsAppInbox).where(
        WhatsAppInbox.status == InboxStatus.DONE, WhatsAppInbox.received_at < clock.now() - keep))
