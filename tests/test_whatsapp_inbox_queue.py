"""The WhatsApp inbox rows as a queue: stored, claimed once while the lease holds,
claimed again after it, given up after too many attempts, purged once handled."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from bot.app import App
from bot.channels import whatsapp_inbox_queue as queue
from bot.db.models import WhatsAppInbox

LEASE = timedelta(seconds=60)
OVER = timedelta(seconds=-1)  # every lease has run out


async def _rows(app: App) -> list[tuple[int, str, int, str]]:
    async with app.engine.sessionmaker() as db:
        result = await db.execute(select(WhatsAppInbox.id, WhatsAppInbox.status,
                                         WhatsAppInbox.attempts, WhatsAppInbox.body)
                                  .order_by(WhatsAppInbox.id))
        return [(row[0], row[1], row[2], row[3]) for row in result]


async def test_claimed_once_while_the_lease_holds_then_again(app: App) -> None:
    sessions = app.engine.sessionmaker
    stored = await queue.store(sessions, ["a", "b"], claim=False)
    held = await queue.store(sessions, ["c"], claim=True)
    assert [body for _, body in stored + held] == ["a", "b", "c"]
    assert await queue.claim(sessions, 10, LEASE) == stored  # "c" is held already
    assert await queue.claim(sessions, 10, LEASE) == []
    await queue.renew(sessions, [item[0] for item in stored])
    assert await queue.claim(sessions, 10, LEASE) == []
    again = await queue.claim(sessions, 1, OVER)
    assert again == stored[:1]
    assert [row[2] for row in await _rows(app)] == [2, 1, 1]


async def test_failures_stay_claimed_and_rows_are_given_up_after_max_attempts(
        app: App) -> None:
    sessions = app.engine.sessionmaker
    [(row_id, _)] = await queue.store(sessions, ["poison"], claim=False)
    for _ in range(queue.MAX_ATTEMPTS):
        assert await queue.claim(sessions, 10, OVER) == [(row_id, "poison")]
        await queue.fail(sessions, row_id, RuntimeError("boom"))
    assert await queue.claim(sessions, 10, OVER) == []
    async with sessions() as db:
        row = await db.get(WhatsAppInbox, row_id)
        assert row is not None
        assert row.status == "failed" and row.last_error == "RuntimeError('boom')"


async def test_finished_rows_lose_their_bodies_and_are_purged_later(app: App) -> None:
    sessions = app.engine.sessionmaker
    [(done_id, _), (open_id, _)] = await queue.store(sessions, ["x", "y"], claim=True)
    async with sessions() as db, db.begin():
        await queue.finish(db, done_id)
    assert await _rows(app) == [(done_id, "done", 1, ""), (open_id, "working", 1, "y")]
    async with sessions() as db, db.begin():
        await queue.purge(db, timedelta(days=14))
    assert len(await _rows(app)) == 2  # not old enough
    async with sessions() as db, db.begin():
        await queue.purge(db, timedelta(seconds=-1))
    assert await _rows(app) == [(open_id, "working", 1, "y")]
