"""The rows of `whatsapp_inbox` on the durable queue (`bot.db.queue`).

A row is `new` when stored, `working` while a process holds it (under a lease its
`Consumer` renews), `done` once handled (its body emptied), and `failed` with its
reason after `MAX_ATTEMPTS` attempts. A failed attempt puts the row back in line after
a backoff; a row whose lease ran out (its process stopped or crashed) is claimed again.

One user's deliveries are handled one at a time, in the order Meta sent them (the
message's timestamp, then the order they arrived), by whichever process: each row keeps
a digest of its sender, and the queue claims a user's row only when it is that user's
oldest one not yet handled and none of theirs is being handled (`Queue.in_order`). A
failed attempt's backoff holds the user's later rows back until it is retried or given
up. So a user's delivery is never stored already claimed (only statuses are, which the
webhook's process handles itself): it is claimed through the queue, in its turn.
Here: the table's description, storing deliveries, finishing and purging rows.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncSession

from bot import clock
from bot.channels.whatsapp_updates import first_sender
from bot.db.models import InboxStatus, WhatsAppInbox
from bot.db.queue import Consumer, Queue

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 5

INBOX: Queue[WhatsAppInbox] = Queue(
    WhatsAppInbox, pending=InboxStatus.NEW, claimed=InboxStatus.WORKING,
    failed=InboxStatus.FAILED, max_attempts=MAX_ATTEMPTS,
    in_order=("sender", ("sent_at", "id")))

# What a worker gets of a row: its id, the attempts so far (this one included), its body.
Item = tuple[int, int, str]


def items(rows: Sequence[Sequence[Any]]) -> list[Item]:
    """Rows claimed as `consumer.claim(db, limit, WhatsAppInbox.body)`."""
    return [(row[0], row[1], row[2]) for row in rows]


# Whose turn a delivery waits for: its sender's digest and Meta's time of the message.
Order = tuple[str | None, datetime | None]


def order_of(body: Any) -> Order:
    """The sender and time of a delivery (its JSON, or the text of it); (None, None) for
    one without a message, which waits for nobody."""
    if isinstance(body, str):
        try:
            body = json.loads(body)
        except (ValueError, RecursionError):
            return None, None
    found = first_sender(body)
    if found is None:
        return None, None
    sender, sent_at = found
    return hashlib.sha256(f"whatsapp:{sender}".encode()).hexdigest()[:32], sent_at


async def store(db: AsyncSession, bodies: list[str],
                claimed: dict[str, Any] | None = None,
                orders: Sequence[Order] | None = None) -> list[Item]:
    """Store deliveries in the caller's transaction (`orders`: each one's `order_of`,
    read from the body when not given). With `claimed` (a consumer's `claimed()`
    values), those without a sender are stored already held by that consumer, which
    handles them itself (their attempts are 1); a user's delivery waits for its turn."""
    now = clock.now()
    if orders is None:
        orders = [order_of(body) for body in bodies]
    rows = [WhatsAppInbox(body=body, received_at=now, sender=sender,
                          sent_at=sent_at or (now if sender else None),
                          **((claimed or {}) if sender is None else {}))
            for body, (sender, sent_at) in zip(bodies, orders, strict=True)]
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
    await INBOX.finish(db, [inbox_id], InboxStatus.DONE, last_error=None, body="",
                       sender=None)


async def purge(db: AsyncSession, keep: timedelta) -> None:
    """Handled rows older than `keep` go."""
    await db.execute(delete(WhatsAppInbox).where(
        WhatsAppInbox.status == InboxStatus.DONE, WhatsAppInbox.received_at < clock.now() - keep))
