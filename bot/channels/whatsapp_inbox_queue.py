"""The rows of `whatsapp_inbox` as a durable queue: store, claim, renew, finish, fail.

A row is `new` when stored, `working` while a worker holds it (`claimed_at` is its
lease, renewed while it is held), `done` once handled (its body emptied) and `failed`
after `MAX_ATTEMPTS` claims. A row whose lease ran out (its process stopped or crashed)
is claimed again; on PostgreSQL claimers skip each other's locked rows.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from sqlalchemy import and_, delete, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.db.models import WhatsAppInbox, utcnow

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 5

Sessions = async_sessionmaker[AsyncSession]
Item = tuple[int, str]  # a row's id and body


async def store(sessionmaker: Sessions, bodies: list[str], *, claim: bool) -> list[Item]:
    """Store deliveries in one transaction; with `claim`, already held by the caller
    (a running worker takes them without a claiming query)."""
    async with sessionmaker() as db, db.begin():
        now = utcnow()
        rows = [WhatsAppInbox(body=body, received_at=now,
                              status="working" if claim else "new",
                              attempts=1 if claim else 0,
                              claimed_at=now if claim else None)
                for body in bodies]
        db.add_all(rows)
        await db.flush()
        return [(row.id, row.body) for row in rows]


async def claim(sessionmaker: Sessions, limit: int, lease: timedelta) -> list[Item]:
    """Take up to `limit` rows that nobody holds: new ones and those whose lease ran out.
    A row claimed more than `MAX_ATTEMPTS` times is given up (`failed`)."""
    now = utcnow()
    async with sessionmaker() as db, db.begin():
        ready = or_(
            WhatsAppInbox.status == "new",
            and_(WhatsAppInbox.status == "working", WhatsAppInbox.claimed_at < now - lease),
        )
        ids = select(WhatsAppInbox.id).where(ready).order_by(WhatsAppInbox.id).limit(limit)
        if db.get_bind().dialect.name == "postgresql":
            ids = ids.with_for_update(skip_locked=True)
        result = await db.execute(
            update(WhatsAppInbox)
            .where(WhatsAppInbox.id.in_(ids.scalar_subquery()))
            .values(status="working", claimed_at=now, attempts=WhatsAppInbox.attempts + 1)
            .returning(WhatsAppInbox.id, WhatsAppInbox.body, WhatsAppInbox.attempts)
            .execution_options(synchronize_session=False)
        )
        rows = sorted(result.all())
        poisoned = [row[0] for row in rows if row[2] > MAX_ATTEMPTS]
        if poisoned:
            log.error("whatsapp: giving up on inbox rows %s after %d attempts", poisoned,
                      MAX_ATTEMPTS)
            await db.execute(update(WhatsAppInbox).where(WhatsAppInbox.id.in_(poisoned))
                             .values(status="failed"))
    return [(row[0], row[1]) for row in rows if row[2] <= MAX_ATTEMPTS]


async def renew(sessionmaker: Sessions, ids: list[int]) -> None:
    """The leases of rows still held (waiting or running) start again."""
    async with sessionmaker() as db, db.begin():
        await db.execute(update(WhatsAppInbox)
                         .where(WhatsAppInbox.id.in_(ids), WhatsAppInbox.status == "working")
                         .values(claimed_at=utcnow()))


async def finish(db: AsyncSession, inbox_id: int) -> None:
    """The row is handled (in the caller's transaction, e.g. with the replies' records)."""
    await db.execute(update(WhatsAppInbox).where(WhatsAppInbox.id == inbox_id)
                     .values(status="done", last_error=None, body=""))


async def fail(sessionmaker: Sessions, inbox_id: int, error: BaseException) -> None:
    """Handling the row failed: it stays `working`, claimed again when its lease ends."""
    async with sessionmaker() as db, db.begin():
        await db.execute(update(WhatsAppInbox).where(WhatsAppInbox.id == inbox_id)
                         .values(last_error=repr(error)[:500]))


async def purge(db: AsyncSession, keep: timedelta) -> None:
    """Handled rows older than `keep` go."""
    await db.execute(delete(WhatsAppInbox).where(
        WhatsAppInbox.status == "done", WhatsAppInbox.received_at < utcnow() - keep))
